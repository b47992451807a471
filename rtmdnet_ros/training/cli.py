# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""`rtmdnet-train`: multi-domain pretraining from sequence folders to a model file.

Example (the shipped default model; see docs/model-card.md and bench/train_default.sh):

    rtmdnet-train --out runs/default --steps 12000 --seed 0

Everything that shaped the result goes into the model file's recipe: the command line, the
sequences and their frame counts, the seed, the git commit, TrainOptions and the run knobs.

Under ``torchrun`` (one process per GPU, or several CPU processes) the same command trains with
DistributedDataParallel, the domains sharded across the processes (``distributed.py``):

    torchrun --standalone --nproc-per-node 4 -m rtmdnet_ros.training.cli --out runs/big ...
"""

from __future__ import annotations

import argparse
import logging
import shlex
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from ..backbones import EFFNET_CUTS
from ..device import resolve_device
from ..options import ROI_MODES, TrainOptions, parse_overrides
from .checkpoint import CHECKPOINT_NAME
from .data import TRAIN_SEQUENCES, Domain, load_domains
from .distributed import DistContext, owned_domains, process_group
from .run_options import RunOptions
from .trainer import Trainer, TrainResult

LOG = logging.getLogger("rtmdnet_ros.training")


def _git_commit() -> str | None:
    """HEAD of the repository this package lives in, or None outside a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _apply_overrides(opts: TrainOptions, pairs: list[str]) -> TrainOptions:
    """``--set KEY=VALUE`` on TrainOptions fields (options.parse_overrides: one meaning)."""
    changes = parse_overrides(pairs)
    if "extra" in changes:
        raise ValueError("--set cannot change extra (free-form recipe notes)")
    return opts.with_overrides(changes)


def build_parser() -> argparse.ArgumentParser:
    """Command-line interface; defaults are the shipped recipe's."""
    p = argparse.ArgumentParser(
        prog="rtmdnet-train",
        description="RT-MDNet multi-domain pretraining (binary + instance embedding loss).",
    )
    p.add_argument("--out", required=True, type=Path,
                   help="output folder: checkpoint.pt, train_log.jsonl, model.pt")
    p.add_argument("--model-out", type=Path, default=None,
                   help="where to write the model file (default OUT/model.pt)")
    p.add_argument("--data", type=Path, default=None,
                   help="data folder holding sequences/ (default $RTMDNET_DATA or ../shared/data)")
    names = p.add_mutually_exclusive_group()
    names.add_argument("--sequences", default=",".join(TRAIN_SEQUENCES),
                       help="comma-separated training sequences (one domain each)")
    names.add_argument("--sequences-file", type=Path, default=None,
                       help="file naming the training sequences, one per line ('#' comments): "
                            "for datasets of thousands of videos, whose comma list would exceed "
                            "the command line's limit")
    p.add_argument("--mirror", action="store_true",
                   help="add a left-right mirrored copy of every training video as its own domain")
    p.add_argument("--backbone", choices=("efficientnet_lite0", "vggm"),
                   default="efficientnet_lite0")
    p.add_argument("--backbone-mode", choices=("frozen", "last", "all"), default=None,
                   help="frozen (cached features), last stage trainable, or all conv layers "
                        "(default: frozen for efficientnet_lite0, all for vggm)")
    p.add_argument("--no-pretrained", action="store_true",
                   help="random backbone instead of ImageNet EfficientNet-Lite0")
    p.add_argument("--sparse", action="store_true",
                   help="stride-16 map (VGG-M proper / EfficientNet undilated) instead of the "
                        "dense stride-8 map")
    p.add_argument("--cut", choices=tuple(EFFNET_CUTS), default=RunOptions.cut,
                   help="EfficientNet-Lite0 stage(s) the feature map is taken from")
    p.add_argument("--roi-mode", choices=ROI_MODES, default=None)
    p.add_argument("--steps", type=int, default=RunOptions.steps,
                   help="domain-steps (each: one domain, 8 frames)")
    p.add_argument("--alpha", type=float, default=None,
                   help="instance loss weight (default 0.1; 0 = binary loss only)")
    p.add_argument("--accumulate", type=int, default=None,
                   help="domain-steps per optimizer step (reference 50; default: #domains)")
    p.add_argument("--fc6-lr-mult", type=float, default=RunOptions.fc6_lr_mult)
    p.add_argument("--cache-scales", default="-2,-1,0,1,2",
                   help="jitter exponents cached for a frozen backbone")
    p.add_argument("--cache-stride", type=int, default=RunOptions.cache_frame_stride,
                   help="cache every n-th frame (frozen backbone)")
    p.add_argument("--cache-dir", type=Path, default=None,
                   help="persist the frozen-backbone feature cache here (reused by later runs)")
    p.add_argument("--max-crop-side", type=int, default=RunOptions.max_crop_side)
    p.add_argument("--checkpoint-every", type=int, default=RunOptions.checkpoint_every)
    p.add_argument("--log-every", type=int, default=RunOptions.log_every)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto (cuda when present), cpu or cuda")
    p.add_argument("--threads", type=int, default=RunOptions.threads,
                   help="torch CPU threads (per process under torchrun)")
    p.add_argument("--dist-timeout", type=float, default=RunOptions.dist_timeout_s,
                   help="torchrun: seconds a process may wait for the others in a collective")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a TrainOptions field (repeatable)")
    p.add_argument("--resume", action="store_true",
                   help="continue from OUT/checkpoint.pt (same data and options)")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bar")
    p.add_argument("--allow-eval-sequences", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def sequence_names(args: argparse.Namespace) -> list[str]:
    """Training sequence names from --sequences-file (one per line) or --sequences (commas)."""
    if args.sequences_file is None:
        return [n.strip() for n in args.sequences.split(",") if n.strip()]
    lines = args.sequences_file.read_text().splitlines()
    return [n for n in (line.split("#", 1)[0].strip() for line in lines) if n]


def make_options(args: argparse.Namespace, num_domains: int) -> tuple[TrainOptions, RunOptions]:
    """Turn parsed arguments into TrainOptions (reference numbers) and RunOptions (knobs)."""
    opts = TrainOptions(backbone=args.backbone, seed=args.seed)
    if args.roi_mode:
        opts = opts.replace(roi_mode=args.roi_mode)
    if args.alpha is not None:
        opts = opts.replace(instance_alpha=args.alpha)
    # Reference: sum gradients of 50 domain-steps per update. With fewer domains than that, one
    # update per cycle over all domains keeps every update balanced across videos.
    accumulate = args.accumulate if args.accumulate is not None else num_domains
    opts = opts.replace(accumulate_domains=accumulate)
    opts = _apply_overrides(opts, args.set)
    mode = args.backbone_mode or ("frozen" if args.backbone == "efficientnet_lite0" else "all")
    run = RunOptions(
        steps=args.steps,
        backbone_mode=mode,
        pretrained_backbone=not args.no_pretrained and args.backbone == "efficientnet_lite0",
        dense=not args.sparse,
        cut=args.cut,
        cache_scales=tuple(int(v) for v in args.cache_scales.split(",") if v.strip()),
        cache_frame_stride=args.cache_stride,
        cache_dir=str(args.cache_dir) if args.cache_dir else "",
        max_crop_side=args.max_crop_side,
        fc6_lr_mult=args.fc6_lr_mult,
        checkpoint_every=args.checkpoint_every,
        log_every=args.log_every,
        device=args.device,
        threads=args.threads,
        roi_mode=opts.roi_mode,
        dist_timeout_s=args.dist_timeout,
    )
    return opts, run


def build_network(opts: TrainOptions, run: RunOptions, num_domains: int):
    """Build the network to pretrain, initialised from the seed (one fc6 branch per domain)."""
    from ..network import RTMDNet

    generator = torch.Generator().manual_seed(opts.seed)
    return RTMDNet(
        backbone=opts.backbone,
        num_domains=num_domains,
        roi_mode=opts.roi_mode,
        dense=run.dense,
        cut=run.cut,
        pretrained_backbone=run.pretrained_backbone,
        generator=generator,
    )


def make_recipe(argv: list[str], domains, opts: TrainOptions, run: RunOptions,
                steps_done: int, history: list[dict[str, Any]],
                world_size: int = 1) -> dict[str, Any]:
    """Collect the model file's recipe: enough to rerun the same training.

    ``world_size`` (processes under torchrun) is part of it: each process draws its own sample
    stream, so the same command on another number of processes trains differently.
    """
    last = history[-1] if history else {}
    return {
        "command": "rtmdnet-train " + " ".join(shlex.quote(a) for a in argv),
        "world_size": world_size,
        "data": [{"sequence": d.name, "frames": len(d)} for d in domains],
        "seed": opts.seed,
        "git_commit": _git_commit(),
        "train_options": opts.to_dict(),
        "run_options": asdict(run),
        "steps_done": steps_done,
        "final_log": last,
        "torch": str(torch.__version__),
    }


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `rtmdnet-train` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    try:
        dist = DistContext.from_env()
    except ValueError as exc:
        print(f"rtmdnet-train: {exc}", file=sys.stderr)
        return 2
    rank = f"rank {dist.rank}/{dist.world_size} " if dist.distributed else ""
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format=f"%(asctime)s {rank}%(levelname)s %(name)s: %(message)s",
    )
    try:
        names = sequence_names(args)
    except OSError as exc:
        print(f"rtmdnet-train: cannot read --sequences-file: {exc}", file=sys.stderr)
        return 2
    # Everything that can be refused is checked before joining the process group: every
    # process reaches the same verdict, so all stop together instead of waiting on a peer.
    try:
        domains = load_domains(names, args.data, allow_eval=args.allow_eval_sequences,
                               mirror=args.mirror)
        opts, run = make_options(args, len(domains))
        owned_domains(len(domains), dist)
        device = resolve_device(run.device,
                                local_rank=dist.local_rank if dist.distributed else None)
    except ValueError as exc:
        print(f"rtmdnet-train: {exc}", file=sys.stderr)
        return 2
    ckpt = args.out / CHECKPOINT_NAME
    if args.resume and not ckpt.is_file():
        print(f"rtmdnet-train: --resume but no checkpoint at {ckpt}", file=sys.stderr)
        return 2
    if run.threads > 0:
        torch.set_num_threads(run.threads)
    with process_group(dist, device, run.dist_timeout_s):
        result = _train(args, domains, opts, run, dist, ckpt)
    if not dist.is_main:
        return 0
    history = _read_history(args.out)
    recipe = make_recipe(argv, domains, opts, run, result.step, history, dist.world_size)
    model_path = args.model_out or (args.out / "model.pt")
    write_model(model_path, result.net, recipe)
    LOG.info("model written to %s", model_path)
    print(model_path)
    return 0


def _train(args: argparse.Namespace, domains: list[Domain], opts: TrainOptions,
           run: RunOptions, dist: DistContext, ckpt: Path) -> TrainResult:
    """Build, resume and run the trainer; it is released on return, inside the process group.

    The trainer holds the DDP reducer and its pending gloo work: freed after the group is torn
    down (at interpreter exit), a rank can abort with "terminate called without an active
    exception".
    """
    torch.manual_seed(opts.seed)
    net = build_network(opts, run, len(domains))
    trainer = Trainer(net, domains, args.out, opts, run, rf_offset=net.rf_offset, dist=dist)
    if args.resume:
        LOG.info("resumed from %s at step %d", ckpt, trainer.load_checkpoint(ckpt))
    progress = None
    if not args.no_progress and dist.is_main:
        from tqdm import tqdm

        progress = tqdm
    return trainer.train(progress)


def _read_history(out_dir: Path) -> list[dict[str, Any]]:
    import json

    path = out_dir / "train_log.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write_model(path: Path, net, recipe: dict[str, Any]) -> None:
    """Save through model_file (fc6 is dropped there: it is always new at tracking time)."""
    from ..model_file import save_model

    path.parent.mkdir(parents=True, exist_ok=True)
    net = net.to("cpu").eval()
    save_model(path, net, recipe=recipe)


if __name__ == "__main__":
    sys.exit(main())
