# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Fine-tune NanoTrack v3's Siamese network on the training split and export it as ONNX.

``rtmdnet-train-siamese`` (or ``python -m rtmdnet_ros.training.siamese``) has three commands:

- ``train``: start from upstream's weights (``nanotrackv3.pth``, Apache-2.0), fine-tune the late
  backbone blocks and the head on template/search pairs of the training split
  (``training.siamese_data``), checkpoint and validate every ``--checkpoint-every`` steps on
  fixed held-out pairs (tails of the training videos), keep the best by validation IoU;
  ``--resume`` continues a stopped run with the same sample stream (each step's generator is
  seeded by (seed, step), so a resumed run equals an uninterrupted one).
- ``export``: write ``nanotrack_backbone.onnx`` / ``nanotrack_head.onnx`` (upstream's I/O) from a
  checkpoint (or the upstream weights), for ``SiameseRefiner(model_dir)`` and onnxruntime.
- ``validate``: the pair-level figures of a checkpoint on the held-out pairs of a split.

The recipe that produced the shipped network is ``bench/train_siamese.sh``.

Losses (upstream's CLS_WEIGHT = LOC_WEIGHT = 1): cross-entropy on the 15x15 grid, positives and
negatives averaged separately and weighted 1:1 (ignored cells excluded); IoU loss (-ln IoU) of
the ltrb distances on positive cells. Batch norm stays in eval mode: batches of 16 pairs from
ten videos would only corrupt statistics learnt from millions of pairs.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from rtmdnet_ros import safe_torch_load

from .. import siamese_net
from ..sequences import default_data_root
from ..siamese_refiner import SCORE_SIZE, WINDOW_INFLUENCE
from ..split import DEV, TRAIN
from .data import load_domains
from .siamese_data import (
    CanvasSet,
    Pair,
    PairOptions,
    build_canvases,
    cell_labels,
    cell_points,
    sample_pair,
    validation_pairs,
)

LOG = logging.getLogger("rtmdnet_ros.training.siamese")

CHECKPOINT = "checkpoint.pt"
BEST = "best.pt"
LOG_FILE = "train_log.jsonl"


@dataclass(frozen=True)
class SiameseTrainOptions:
    """Every tunable number of the fine-tune, with where it comes from.

    Upstream (configv3.yaml TRAIN): SGD, batch 64, LR decaying 5e-3 -> 5e-4 over 50 epochs of
    400k pairs, backbone at 0.1x the head's rate (LAYERS_LR), weight decay 1e-4 (pysot's
    default). Here: a fine-tune from upstream's end point, so upstream's *final* rate for the
    head (5e-4) with a cosine decay to 0, backbone blocks from ``train_from_block`` on at 0.1x,
    earlier blocks frozen; 16 pairs a step (2 shared CPU cores).
    """

    steps: int = 1000
    batch: int = 16
    lr: float = 5e-4
    backbone_lr_scale: float = 0.1
    warmup_steps: int = 50
    momentum: float = 0.9
    weight_decay: float = 1e-4
    grad_clip: float = 10.0
    train_from_block: int = 7  # features.7..9 trainable (the two 48-ch blocks and the last)
    cls_weight: float = 1.0
    loc_weight: float = 1.0
    seed: int = 0


def _parse_value(text: str, current: Any) -> Any:
    if isinstance(current, bool):
        return text.lower() in ("1", "true", "yes")
    return type(current)(text)


def apply_overrides(obj: Any, pairs: Sequence[str]) -> Any:
    """``KEY=VALUE`` overrides on a frozen dataclass (unknown keys are an error)."""
    names = {f.name for f in fields(obj)}
    changes = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or key not in names:
            raise ValueError(f"unknown or malformed setting {pair!r} (known: {sorted(names)})")
        changes[key] = _parse_value(value, getattr(obj, key))
    return replace(obj, **changes)


def to_tensor(crops: Sequence[np.ndarray]) -> torch.Tensor:
    """RGB uint8 HxWx3 crops -> (N, 3, H, W) float BGR 0..255, the network's input."""
    arr = np.stack([c[:, :, ::-1] for c in crops]).transpose(0, 3, 1, 2)
    return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))


def batch_targets(pairs: Sequence[Pair]) -> tuple[torch.Tensor, torch.Tensor]:
    """Labels (N, 15, 15) in {1, 0, -1} and ltrb targets (N, 4, 15, 15) for a batch."""
    labels, ltrbs = zip(*(cell_labels(p.box, p.positive) for p in pairs), strict=True)
    return torch.from_numpy(np.stack(labels)), torch.from_numpy(np.stack(ltrbs))


def iou_ltrb(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """IoU of two boxes given as (l, t, r, b) distances from the same point (dim 1 = 4)."""
    pl, pt, pr, pb = pred.unbind(1)
    tl, tt, tr, tb = target.unbind(1)
    inter = ((torch.minimum(pl, tl) + torch.minimum(pr, tr)).clamp(min=0)
             * (torch.minimum(pt, tt) + torch.minimum(pb, tb)).clamp(min=0))
    union = (pl + pr) * (pt + pb) + (tl + tr) * (tt + tb) - inter
    return inter / union.clamp(min=1e-6)


def losses(logits: torch.Tensor, ltrb: torch.Tensor, labels: torch.Tensor,
           target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(classification, localisation) losses of a batch (module docstring)."""
    logp = F.log_softmax(logits, dim=1)
    pos, neg = labels == 1, labels == 0
    cls = logits.new_zeros(())
    if pos.any():
        cls = cls + 0.5 * -logp[:, 1][pos].mean()
    if neg.any():
        cls = cls + 0.5 * -logp[:, 0][neg].mean()
    loc = logits.new_zeros(())
    if pos.any():
        p = ltrb.permute(0, 2, 3, 1)[pos]
        t = target.permute(0, 2, 3, 1)[pos]
        loc = -torch.log(iou_ltrb(p, t).clamp(min=1e-6)).mean()
    return cls, loc


def decode_peak(logits: np.ndarray, ltrb: np.ndarray, window: float = WINDOW_INFLUENCE
                ) -> np.ndarray:
    """Box (x1, y1, x2, y2, crop px) at the best cell of target probability mixed with a window.

    The same score a tracker ranks cells by, minus the size-change penalty (a pair has no
    previous box): ``(1 - window) * p + window * hann``.
    """
    z = logits - logits.max(axis=0, keepdims=True)
    prob = np.exp(z[1]) / np.exp(z).sum(axis=0)
    hann = np.outer(np.hanning(SCORE_SIZE), np.hanning(SCORE_SIZE))
    score = (1.0 - window) * prob + window * hann
    i, j = np.unravel_index(np.argmax(score), score.shape)
    px, py = cell_points()
    left, top, right, bottom = ltrb[:, i, j]
    return np.array([px[i, j] - left, py[i, j] - top, px[i, j] + right, py[i, j] + bottom])


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two (x1, y1, x2, y2) boxes."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def evaluate_pairs(net: siamese_net.NanoTrackV3, pairs: Sequence[Pair], batch: int = 16
                   ) -> dict[str, float]:
    """Pair-level figures: mean IoU of the peak box (windowed and raw), centre-hit rate, loss."""
    net.eval()
    ious, raw_ious, hits, cls_l, loc_l, detect = [], [], [], [], [], []
    px, py = cell_points()
    with torch.no_grad():
        for start in range(0, len(pairs), batch):
            chunk = [p for p in pairs[start:start + batch] if p.positive]
            if not chunk:
                continue
            logits, ltrb = net(to_tensor([p.template for p in chunk]),
                               to_tensor([p.search for p in chunk]))
            labels, target = batch_targets(chunk)
            c, lo = losses(logits, ltrb, labels, target)
            cls_l.append(float(c))
            loc_l.append(float(lo))
            for k, p in enumerate(chunk):
                box = decode_peak(logits[k].numpy(), ltrb[k].numpy())
                ious.append(box_iou(box, p.box))
                raw_ious.append(box_iou(decode_peak(logits[k].numpy(), ltrb[k].numpy(), 0.0),
                                        p.box))
                cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
                hits.append(p.box[0] <= cx <= p.box[2] and p.box[1] <= cy <= p.box[3])
                # Re-detection's test: target probability above 0.5 at the cell nearest to
                # the target centre (the composite asks the classifier only then).
                tcx, tcy = (p.box[0] + p.box[2]) / 2, (p.box[1] + p.box[3]) / 2
                i, j = np.unravel_index(np.argmin((px - tcx) ** 2 + (py - tcy) ** 2), px.shape)
                prob = torch.softmax(logits[k, :, i, j], 0)[1]
                detect.append(float(prob) > 0.5)
    return {"iou": float(np.mean(ious)), "iou_raw": float(np.mean(raw_ious)),
            "centre_hit": float(np.mean(hits)), "detect": float(np.mean(detect)),
            "cls_loss": float(np.mean(cls_l)),
            "loc_loss": float(np.mean(loc_l)), "pairs": len(ious)}


def lr_at(step: int, opts: SiameseTrainOptions) -> float:
    """Linear warm-up, then cosine decay to 0 at ``opts.steps``."""
    if step < opts.warmup_steps:
        return opts.lr * (step + 1) / opts.warmup_steps
    progress = (step - opts.warmup_steps) / max(1, opts.steps - opts.warmup_steps)
    return opts.lr * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def make_optimizer(net: siamese_net.NanoTrackV3, opts: SiameseTrainOptions
                   ) -> torch.optim.Optimizer:
    """SGD with two groups: head at ``lr``, trainable backbone blocks at ``lr * scale``."""
    head, backbone = [], []
    for name, param in siamese_net.trainable_parameters(net, opts.train_from_block):
        (backbone if name.startswith("backbone.") else head).append(param)
    groups = [{"params": head, "scale": 1.0}]
    if backbone:
        groups.append({"params": backbone, "scale": opts.backbone_lr_scale})
    return torch.optim.SGD(groups, lr=opts.lr, momentum=opts.momentum,
                           weight_decay=opts.weight_decay)


class SiameseTrainer:
    """The fine-tuning loop with checkpoints, resume, validation and best-checkpoint keeping."""

    def __init__(self, net: siamese_net.NanoTrackV3, sets: Sequence[CanvasSet], out: Path,
                 opts: SiameseTrainOptions, pair_opts: PairOptions, recipe: dict[str, Any],
                 checkpoint_every: int = 100, log_every: int = 25) -> None:
        self.net, self.sets, self.out = net, list(sets), Path(out)
        self.opts, self.pair_opts, self.recipe = opts, pair_opts, recipe
        self.checkpoint_every, self.log_every = checkpoint_every, log_every
        self.optimizer = make_optimizer(net, opts)
        self.step = 0
        self.best: dict[str, Any] | None = None
        self.val_pairs = validation_pairs(self.sets, pair_opts)
        self.val_far_pairs = validation_pairs(
            self.sets, replace(pair_opts, val_shift=pair_opts.val_far_shift))
        self.out.mkdir(parents=True, exist_ok=True)

    def _save(self, path: Path, **extra: Any) -> None:
        tmp = path.with_suffix(".tmp")
        torch.save({"state_dict": self.net.state_dict(),
                    "optimizer": self.optimizer.state_dict(), "step": self.step,
                    "best": self.best, "options": asdict(self.opts),
                    "pair_options": asdict(self.pair_opts), "recipe": self.recipe, **extra},
                   str(tmp))
        os.replace(tmp, path)

    def load(self, path: Path) -> int:
        """Restore network, optimizer, step and best record from a checkpoint."""
        ckpt = safe_torch_load.load(path)
        self.net.load_state_dict(ckpt["state_dict"], strict=True)
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.step, self.best = int(ckpt["step"]), ckpt.get("best")
        return self.step

    def _log(self, record: dict[str, Any]) -> None:
        with (self.out / LOG_FILE).open("a") as f:
            f.write(json.dumps(record) + "\n")

    def validate(self) -> dict[str, float]:
        """Score the current network on the fixed validation pairs; keep it if best so far.

        Every validated network is also kept as ``step_NNNNN.pt`` (a few MB), so a later,
        slower selection on the training split (tracking, ``rtmdnet-eval --split train``) can
        choose among them.
        """
        result = evaluate_pairs(self.net, self.val_pairs)
        far = evaluate_pairs(self.net, self.val_far_pairs)
        result.update({f"far_{k}": v for k, v in far.items()})
        # Selection: near (tracking) and far (re-detection) pairs weigh the same.
        result["select"] = 0.5 * (result["iou"] + far["iou"])
        record = {"step": self.step, "val": result}
        snapshot = {"state_dict": self.net.state_dict(), "step": self.step, "val": result,
                    "options": asdict(self.opts), "pair_options": asdict(self.pair_opts),
                    "recipe": self.recipe}
        torch.save(snapshot, str(self.out / f"step_{self.step:05d}.pt"))
        if self.best is None or result["select"] > self.best["val"]["select"]:
            self.best = record
            torch.save(snapshot, str(self.out / BEST))
        self._log(record)
        LOG.info("step %d validation: %s (best step %d)", self.step,
                 {k: round(v, 4) for k, v in result.items()}, self.best["step"])
        return result

    def train_step(self) -> dict[str, float]:
        """One SGD step on ``batch`` pairs drawn with the generator seeded by (seed, step)."""
        rng = np.random.default_rng([self.opts.seed, self.step])
        pairs = [sample_pair(self.sets, self.pair_opts, rng) for _ in range(self.opts.batch)]
        labels, target = batch_targets(pairs)
        self.net.eval()  # batch norm statistics frozen (module docstring)
        logits, ltrb = self.net(to_tensor([p.template for p in pairs]),
                                to_tensor([p.search for p in pairs]))
        cls, loc = losses(logits, ltrb, labels, target)
        loss = self.opts.cls_weight * cls + self.opts.loc_weight * loc
        lr = lr_at(self.step, self.opts)
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group["scale"]
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        torch.nn.utils.clip_grad_norm_(params, self.opts.grad_clip)
        self.optimizer.step()
        self.step += 1
        return {"loss": float(loss.detach()), "cls": float(cls.detach()),
                "loc": float(loc.detach()), "lr": lr}

    def train(self) -> dict[str, Any]:
        """Run to ``opts.steps`` (validating at step 0 = upstream when starting fresh)."""
        if self.step == 0:
            self.validate()
        window: list[dict[str, float]] = []
        started = time.monotonic()
        while self.step < self.opts.steps:
            window.append(self.train_step())
            if self.step % self.log_every == 0:
                mean = {k: float(np.mean([w[k] for w in window])) for k in window[0]}
                rate = (time.monotonic() - started) / len(window)
                started, window = time.monotonic(), []
                self._log({"step": self.step, "train": mean, "s_per_step": rate})
                LOG.info("step %d %s %.2f s/step", self.step,
                         {k: round(v, 5) for k, v in mean.items()}, rate)
            if self.step % self.checkpoint_every == 0 or self.step == self.opts.steps:
                self.validate()
                self._save(self.out / CHECKPOINT)
        return self.best or {}


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
                             capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def upstream_nanotrack_v3_dir() -> Path:
    """Upstream NanoTrack v3 (the fine-tune's start and its ONNX reference files).

    ``$RTMDNET_NANOTRACK_V3_DIR``, else ``models/nanotrack_v3`` beside the data folder: training
    reads the shared folders, the tracker never does (it runs what the package ships).
    """
    env = os.environ.get("RTMDNET_NANOTRACK_V3_DIR")
    return Path(env) if env else default_data_root().parent / "models" / "nanotrack_v3"


def default_upstream() -> Path:
    """``nanotrackv3.pth`` in :func:`upstream_nanotrack_v3_dir`."""
    return upstream_nanotrack_v3_dir() / siamese_net.UPSTREAM_CHECKPOINT


def load_canvas_sets(names: Sequence[str], data: Path | None, cache_dir: Path,
                     pair_opts: PairOptions, allow_eval: bool = False) -> list[CanvasSet]:
    """Training videos (development split refused unless ``allow_eval``) as canvas sets."""
    domains = load_domains(list(names), data, allow_eval=allow_eval)
    return [build_canvases(d, pair_opts.canvas, cache_dir) for d in domains]


def build_parser() -> argparse.ArgumentParser:
    """Command line of ``rtmdnet-train-siamese`` (module docstring)."""
    parser = argparse.ArgumentParser(prog="rtmdnet-train-siamese", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data", type=Path, default=None,
                        help="data root (default: $RTMDNET_DATA or ../shared/data)")
    common.add_argument("--cache-dir", type=Path, default=Path("runs/siamese_cache"))
    common.add_argument("--threads", type=int, default=1, help="torch threads (0 = default)")
    common.add_argument("--set-pairs", action="append", default=[], metavar="KEY=VALUE",
                        help="override a PairOptions field")
    common.add_argument("-v", "--verbose", action="store_true")
    train = sub.add_parser("train", parents=[common], help="fine-tune from upstream weights")
    train.add_argument("--out", type=Path, required=True)
    train.add_argument("--upstream", type=Path, default=None,
                       help="upstream nanotrackv3.pth (default: the shared models folder)")
    train.add_argument("--sequences", default=",".join(TRAIN),
                       help="comma-separated training sequences (default: the training split)")
    train.add_argument("--steps", type=int, default=None)
    train.add_argument("--seed", type=int, default=None)
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a SiameseTrainOptions field")
    train.add_argument("--checkpoint-every", type=int, default=100)
    train.add_argument("--log-every", type=int, default=25)
    train.add_argument("--resume", action="store_true")
    export = sub.add_parser("export", help="write the two ONNX files from a checkpoint")
    export.add_argument("--checkpoint", type=Path, default=None,
                        help="checkpoint (best.pt, checkpoint.pt) or upstream .pth")
    export.add_argument("--out", type=Path, required=True)
    validate = sub.add_parser("validate", parents=[common],
                              help="pair-level figures of a network on held-out pairs")
    validate.add_argument("--checkpoint", type=Path, default=None)
    validate.add_argument("--split", choices=("train", "dev"), default="train",
                          help="train: tails of the training videos; dev: the development "
                               "split (report only, never for choosing)")
    validate.add_argument("--onnx-dir", type=Path, default=None,
                          help="score an ONNX folder with onnxruntime instead of a checkpoint")
    return parser


def _load_net(path: Path | None) -> siamese_net.NanoTrackV3:
    return siamese_net.load_state(path if path is not None else default_upstream())


def _validate(args: argparse.Namespace) -> int:
    pair_opts = apply_overrides(PairOptions(), args.set_pairs)
    names = TRAIN if args.split == "train" else DEV
    if args.split == "dev":  # whole sequences are held out: every frame is a validation frame
        pair_opts = replace(pair_opts, val_fraction=1.0 - 1e-9)
    sets = load_canvas_sets(names, args.data, args.cache_dir, pair_opts,
                            allow_eval=args.split == "dev")
    pairs = validation_pairs(sets, pair_opts)
    if args.onnx_dir is not None:
        result = _evaluate_onnx(args.onnx_dir, pairs)
    else:
        result = evaluate_pairs(_load_net(args.checkpoint), pairs)
    print(json.dumps(result))
    return 0


def _evaluate_onnx(folder: Path, pairs: Sequence[Pair]) -> dict[str, float]:
    """Pair-level figures of an ONNX folder (onnxruntime), same decoding as ``evaluate_pairs``."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = max(1, torch.get_num_threads())
    bb = ort.InferenceSession(str(folder / siamese_net.BACKBONE_ONNX), so,
                              providers=["CPUExecutionProvider"])
    hd = ort.InferenceSession(str(folder / siamese_net.HEAD_ONNX), so,
                              providers=["CPUExecutionProvider"])
    ious = []
    for p in pairs:
        if not p.positive:
            continue
        z = bb.run(None, {"input": to_tensor([p.template]).numpy()})[0]
        x = bb.run(None, {"input": to_tensor([p.search]).numpy()})[0]
        logits, ltrb = hd.run(None, {"input1": z, "input2": x})
        ious.append(box_iou(decode_peak(logits[0], ltrb[0]), p.box))
    return {"iou": float(np.mean(ious)), "pairs": len(ious)}


def _export(args: argparse.Namespace) -> None:
    """Write both ONNX files and the PyTorch weights (with the checkpoint's recipe) to --out."""
    net = _load_net(args.checkpoint)
    siamese_net.export_onnx(net, args.out)
    meta: dict[str, Any] = {"source": str(args.checkpoint or default_upstream())}
    if args.checkpoint is not None:
        ckpt = safe_torch_load.load(args.checkpoint)
        meta.update({k: ckpt[k] for k in ("step", "val", "options", "pair_options", "recipe")
                     if k in ckpt})
    siamese_net.save_state(net, Path(args.out) / siamese_net.SHIPPED_WEIGHTS, meta)


def _train(args: argparse.Namespace, argv: Sequence[str]) -> int:
    opts = apply_overrides(SiameseTrainOptions(), args.set)
    if args.steps is not None:
        opts = replace(opts, steps=args.steps)
    if args.seed is not None:
        opts = replace(opts, seed=args.seed)
    pair_opts = apply_overrides(PairOptions(), args.set_pairs)
    names = [n for n in args.sequences.split(",") if n]
    sets = load_canvas_sets(names, args.data, args.cache_dir, pair_opts)
    upstream = args.upstream or default_upstream()
    torch.manual_seed(opts.seed)
    net = siamese_net.load_upstream(upstream)
    recipe = {"command": "rtmdnet-train-siamese " + shlex.join(argv),
              "upstream": str(upstream), "git_commit": _git_commit(),
              "data_root": str(args.data or default_data_root()),
              "sequences": {cs.name: len(cs) for cs in sets}}
    trainer = SiameseTrainer(net, sets, args.out, opts, pair_opts, recipe,
                             checkpoint_every=args.checkpoint_every, log_every=args.log_every)
    ckpt = args.out / CHECKPOINT
    if args.resume:
        if not ckpt.is_file():
            print(f"rtmdnet-train-siamese: --resume but no checkpoint at {ckpt}",
                  file=sys.stderr)
            return 2
        LOG.info("resumed from %s at step %d", ckpt, trainer.load(ckpt))
    best = trainer.train()
    LOG.info("best validation at step %s: %s", best.get("step"), best.get("val"))
    print(args.out / BEST)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rtmdnet-train-siamese`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if getattr(args, "verbose", False) else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    threads = getattr(args, "threads", 1)
    if threads > 0:
        torch.set_num_threads(threads)
    try:
        if args.command == "train":
            return _train(args, argv)
        if args.command == "export":
            _export(args)
            print(args.out)
            return 0
        return _validate(args)
    except ValueError as exc:
        print(f"rtmdnet-train-siamese: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
