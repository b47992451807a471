# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Every tunable number of the tracker and of offline pretraining, in one place.

Each field carries the reference value (docs/rtmdnet-reference.md, section given in the comment).
Where a CPU-speed default differs from the reference, the reference value is kept in a comment and
the deviation, with the measurement that motivated it, is documented in docs/tracker.md. Options
travel inside model files and YAML files as plain dicts (``to_dict`` / ``from_dict``).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .device import check_device_name

# ``Tracker(model=UNTRAINED)`` / ``rtmdnet-eval --model untrained``: no offline-trained head even
# when a packaged model exists (the options' backbone, ImageNet weights where it has them, and
# fc4-fc6 drawn from the seed): the "no pretraining" row of the ablations. Defined here, where
# no torch import is needed, so evaluating the peers alone never loads torch.
UNTRAINED = "untrained"

# A jitter entry is (dx px, dy px, scale) applied to the first-frame scene crop (reference 3).
Jitter = tuple[float, float, float]

REFERENCE_JITTER: tuple[Jitter, ...] = (
    (0.0, 0.0, 1.0),
    (-4.0, 0.0, 1.0),
    (0.0, -4.0, 1.0),
    (0.0, 0.0, 1.1**-1),
    (0.0, 0.0, 1.1),
    (0.0, 0.0, 1.1**-2),
    (0.0, 0.0, 1.1**2),
)


def _to_tuple(value: Any) -> Any:
    """Turn nested lists (as YAML and torch.save round-trips give them) back into tuples."""
    if isinstance(value, (list, tuple)):
        return tuple(_to_tuple(v) for v in value)
    return value


def _default(f: dataclasses.Field) -> Any:
    return f.default_factory() if f.default is dataclasses.MISSING else f.default


def _typed(owner: str, f: dataclasses.Field, value: Any) -> Any:
    """``value`` as the type of the field's default, or a ValueError naming field and value.

    Values from outside (``--set``, model files, YAML) arrive as JSON types: a float field may
    get ``1`` (kept as 1.0), a tuple field a list. Anything else of the wrong type is refused
    here rather than failing later, far from its origin (``n_candidates="abc"``), or being
    silently truthy (a bool field given ``1``).
    """
    default = _default(f)
    if isinstance(default, bool):
        ok, kind = isinstance(value, bool), "true or false"
    elif isinstance(default, int):
        ok, kind = isinstance(value, int) and not isinstance(value, bool), "an integer"
    elif isinstance(default, float):
        ok, kind = isinstance(value, (int, float)) and not isinstance(value, bool), "a number"
        value = float(value) if ok else value
    elif isinstance(default, str):
        ok, kind = isinstance(value, str), "a string"
    elif isinstance(default, tuple):
        ok, kind = isinstance(value, (list, tuple)), "a list"
        value = _to_tuple(value)
    else:
        ok, kind = isinstance(value, type(default)), type(default).__name__
    if not ok:
        raise ValueError(f"{owner}.{f.name} must be {kind}, got {value!r}")
    return value


def parse_set_value(text: str) -> Any:
    """Read one ``--set`` value: JSON, else Python-style ``True``/``False``/``None``, else text.

    JSON covers numbers, true/false/null and lists; the text fallback lets ``roi_mode=pool``
    go without quotes.
    """
    text = text.strip()
    python = {"True": True, "False": False, "None": None}
    if text in python:
        return python[text]
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_overrides(pairs: Iterable[str]) -> dict[str, Any]:
    """``--set KEY=VALUE`` pairs -> {key: value}: the one meaning of ``--set`` in every tool.

    rtmdnet-eval, rtmdnet-train and bench/bench_tracker.py all call this; the options class
    they go to (``from_dict``) then refuses unknown keys and values of the wrong type.
    """
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set expects KEY=VALUE, got {pair!r}")
        out[key.strip()] = parse_set_value(value)
    return out


CPU_JITTER: tuple[Jitter, ...] = (REFERENCE_JITTER[0], REFERENCE_JITTER[3], REFERENCE_JITTER[4])

# The reference value of every field whose CPU default differs (docs/tracker.md explains each).
REFERENCE_VALUES: dict[str, Any] = {
    "jitter": REFERENCE_JITTER,
    "n_neg_init": 5000,
    "init_iterations": 50,
    "batch_neg_candidates": 1024,
    "update_iterations": 15,
    "reuse_candidate_crop": False,
    "bbreg_accept_area": (1.0, 2.0),
    "short_term_interval": 1,
    "untrained_head_lr_mult": 1.0,
    "box_refiner": "none",
    "mode": "reference",
}


class _DictMixin:
    """Plain-dict round trip so options can be stored in model files and YAML."""

    def to_dict(self) -> dict[str, Any]:
        """Return a dict of plain Python values (tuples become lists for YAML)."""

        def plain(v: Any) -> Any:
            if isinstance(v, tuple):
                return [plain(x) for x in v]
            return v

        return {k: plain(v) for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, strict: bool = True):
        """Build options from a dict; unknown keys raise unless ``strict`` is False.

        Unknown keys are an error by default because a typo in a YAML file would otherwise be
        silently ignored and the reference value used instead.
        """
        data = dict(data or {})
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown and strict:
            raise ValueError(f"unknown {cls.__name__} keys: {', '.join(unknown)}")
        kwargs = {k: _typed(cls.__name__, known[k], v) for k, v in data.items() if k in known}
        return cls(**kwargs)

    def with_overrides(self, overrides: dict[str, Any] | None):
        """Return a copy with ``overrides`` (plain values, as ``from_dict`` takes them) on top."""
        if not overrides:
            return self
        return type(self).from_dict({**self.to_dict(), **overrides})

    def replace(self, **changes: Any):
        """Return a copy with some fields changed."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class TrackerOptions(_DictMixin):
    """Online tracking options (reference sections 3-8)."""

    # --- runtime -------------------------------------------------------------------------------
    device: str = "auto"  # "auto" (cuda when available), "cpu" or "cuda"
    # CPU threads of the frame path: torch, OpenCV and onnxruntime sessions alike, set once at
    # construction (onnx_runtime.set_frame_threads). 0 = leave torch's count alone (its default:
    # one per core), which the onnxruntime sessions then follow.
    torch_threads: int = 0
    # Backbone runtime (issue 18; backbone_runtime.py): "auto" = onnxruntime on the CPU when it is
    # installed, PyTorch on CUDA; "torch" = PyTorch always (the reference: boxes bit-for-bit as
    # before); "onnxruntime" = required (CPU only). Measured 1.5-3x faster backbone on 2 cores,
    # feature maps within 3e-4 of PyTorch's (docs/tracker.md, "Inference runtime").
    runtime: str = "auto"
    backbone: str = "efficientnet_lite0"  # default network when no model file is given (issue 3)
    roi_mode: str = "adaptive"  # "adaptive" | "align" | "pool" (reference 2, paper ablation)
    # Architecture of a network built without a model file (``model="untrained"``, or a backbone
    # other than the packaged model's); a loaded model file always brings its own.
    # EfficientNet-Lite0 stage(s) the map is taken from: stage 3 and 4 stacked (docs/backbones.md;
    # +0.02 AUC over stage 4 alone, docs/ablations.md). The packaged model has this cut.
    backbone_cut: str = "stage3+4"
    dense_map: bool = True  # reference 1: stride-8 map; False = stride 16 (paper's ablation)
    # RoIs pooled per call: bounds the pooling temporaries (peak RSS) without changing results.
    roi_chunk: int = 512

    # --- 3. boxes -> RoIs and the crop ----------------------------------------------------------
    img_size: int = 107  # reference 3: the unpadded target becomes 107 px in the crop
    padding: float = 1.2  # reference 3: samples are enlarged by 1.2 (0.1*w each side)
    # Reference 3: seven first-frame jitter crops (REFERENCE_JITTER). CPU default: original and
    # the two 1.1^+-1 scales, since each crop is a full backbone pass (docs/tracker.md).
    jitter: tuple[Jitter, ...] = CPU_JITTER

    # --- 4. sample generators (trans, scale, aspect, n, filter) ---------------------------------
    cand_trans: float = 0.6  # reference 4: candidates, gaussian, valid
    cand_trans_failure: float = 1.4  # reference 4/7: search widened after a failure
    # Reference 4. 1.02 slowed the shrinking of the box on the training split (+0.02 AUC) but
    # was not confirmed on the evaluation split (docs/tracker.md, accuracy investigation).
    cand_scale: float = 1.05
    n_candidates: int = 256  # reference 4/7

    init_pos_trans: float = 0.1  # reference 4: init positives, gaussian
    init_pos_scale: float = 1.2  # reference 4
    init_pos_iou: float = 0.7  # reference 4: IoU >= 0.7
    init_neg_trans: float = 1.0  # reference 4: init negatives, uniform
    init_neg_scale: float = 2.0  # reference 4
    init_neg_aspect: float = 1.1  # reference 4
    init_neg_iou: float = 0.5  # reference 4: IoU <= 0.5
    bbreg_trans: float = 0.3  # reference 4: bbox-regression samples, uniform
    bbreg_scale: float = 1.5  # reference 4
    bbreg_aspect: float = 1.1  # reference 4
    bbreg_iou: float = 0.6  # reference 4/8: IoU >= 0.6
    # Reference 4/8: area(sample)/area(gt) in [1, 2], so the regressor only learns to shrink.
    # [0.5, 2] helped on the training split (+0.02 AUC) but was not confirmed on the evaluation
    # split (docs/tracker.md, accuracy investigation).
    bbreg_area: tuple[float, float] = (1.0, 2.0)

    update_pos_trans: float = 0.1  # reference 4: update positives, gaussian
    update_pos_scale: float = 1.2  # reference 4
    update_pos_iou: float = 0.7  # reference 4: IoU >= 0.7
    update_neg_trans: float = 1.5  # reference 4: update negatives, uniform
    update_neg_scale: float = 1.2  # reference 4
    update_neg_iou: float = 0.3  # reference 4: IoU <= 0.3
    n_pos_update: int = 50  # reference 4/7: positives collected per successful frame
    n_neg_update: int = 200  # reference 4/7: negatives collected per successful frame
    min_box_size: float = 5.0  # reference 4: sample sizes clipped to [5, img - 5]

    # --- 5. first frame -------------------------------------------------------------------------
    n_pos_init: int = 500  # reference 5
    n_neg_init: int = 2000  # reference 5: 5000; CPU default 2000 (RoI work, docs/tracker.md)
    n_bbreg: int = 1000  # reference 5
    init_iterations: int = 30  # reference 5: 50; CPU default 30 (first-frame budget)
    lr_init: float = 1e-4  # reference 5: fc4/fc5
    # Not in the reference, whose fc4/fc5 are always pretrained: when they are random (no trained
    # model, the core's fallback) the first-frame rate is lr_init * this. 1 = reference.
    untrained_head_lr_mult: float = 10.0
    lr_fc6_mult: float = 10.0  # reference 5/7: fc6 learns 10x faster
    momentum: float = 0.9  # reference 5
    weight_decay: float = 5e-4  # reference 5
    grad_clip: float = 10.0  # reference 5: gradient-norm clip
    n_pos_memory_seed: int = 50  # reference 5: memories seeded with 50 random positives
    n_neg_memory_seed: int = 200  # reference 5: ... and 200 random negatives
    # Reference 5, authors' extra augmentation (100 crops at 192 px). Off by default: too slow
    # for the 2.0 s first-frame budget on CPU (docs/tracker.md).
    first_frame_augmentation: bool = False
    aug_crops: int = 100  # reference 5
    aug_context: float = 1.8  # reference 5: crop size = target * 1.8 * 1.1^clip(N, -2, 2)
    aug_scale_base: float = 1.1  # reference 5
    aug_scale_clip: float = 2.0  # reference 5
    aug_shift_std: float = 2.0  # reference 5: shift clip(2N, -4, 4) px
    aug_shift_clip: float = 4.0  # reference 5
    aug_crop_size: int = 192  # reference 5: rendered at 192x192
    aug_pos_per_crop: int = 5  # reference 5
    aug_neg_per_crop: int = 12  # reference 5
    aug_bbreg_per_crop: int = 2  # reference 5
    aug_neg_trans: float = 0.3  # reference 5: uniform 0.3 / 2 / 1.1, IoU <= 0.5
    aug_neg_scale: float = 2.0  # reference 5
    aug_neg_aspect: float = 1.1  # reference 5
    aug_neg_iou: float = 0.5  # reference 5

    # --- 6. training step -----------------------------------------------------------------------
    batch_pos: int = 32  # reference 6
    # Reference 6: 1024 negatives scored in eval mode per iteration for hard mining; CPU default
    # 256 (that scoring is half of each training step, docs/tracker.md).
    batch_neg_candidates: int = 256
    batch_hard_neg: int = 96  # reference 6: top-96 kept
    eval_chunk: int = 256  # reference 6: scoring chunk size

    # --- 7. online loop -------------------------------------------------------------------------
    top_k: int = 5  # reference 7: score = mean of the top-5 logits
    success_threshold: float = 0.0  # reference 7: success = score > 0
    pos_memory_frames: int = 100  # reference 7: positive memory, last 100 frames
    neg_memory_frames: int = 20  # reference 7: negative memory, last 20 frames
    short_term_frames: int = 20  # reference 7: short-term update uses the last min(20, n) frames
    update_iterations: int = 5  # reference 7: 15; CPU default 5 (updates cost, docs/tracker.md)
    lr_update: float = 3e-4  # reference 7 (fc6: x lr_fc6_mult = 3e-3)
    long_term_interval: int = 10  # reference 7: long-term update every 10 frames on success
    # Speed knob (not in the reference, which updates on every failed frame): at most one
    # short-term update per this many frames. 1 = reference behaviour.
    short_term_interval: int = 3  # reference: 1 (docs/tracker.md)
    # Speed knob (not in the reference): pool the 50/200 update samples from the candidate
    # crop's feature map instead of a second crop + backbone pass, keeping only samples whose
    # padded box lies at least reuse_min_inside inside that crop. False = reference behaviour.
    reuse_candidate_crop: bool = True  # reference: False (a second crop per frame)
    reuse_min_inside: float = 0.7


    # Where the online updates run. "sync" (reference 7): inside update(), so a frame that
    # triggers one waits for it; deterministic, used for evaluation. "async": on a copy of the
    # head in a worker thread, the new weights swapped in between frames (the node's default:
    # a frame never waits for learning; the result depends on thread timing).
    update_mode: str = "sync"
    # Niceness of the async update thread (Linux): CFS gives a nice-5 thread about a third of a
    # nice-0 thread's CPU share, so on busy cores the frame loop keeps precedence and the updates
    # still progress (at nice 10, a tenth, they starved behind other processes in our tests).
    update_worker_nice: int = 5

    # Box refinement after the classifier (not in RT-MDNet). "nanotrack_v3": NanoTrack v3's
    # trained Siamese head on a search window around the classifier's box (siamese_refiner.py);
    # it may only move the centre by a fraction of the box size, so our classifier keeps the
    # last word on which object it is; the refined box is also where the next frame's candidates
    # are drawn. It stops the box shrinking (docs/tracker.md, scale drift). "auto": that when
    # its weights are found, else "none" with a warning. "none": the classifier's box and the
    # regression only (RT-MDNet). Reference mode only; the composite (the default) supersedes it.
    box_refiner: str = "none"
    refiner_dir: str = ""  # "" = the Siamese network shipped in the package
    # Width/height factors on the head's predicted size: exp(-median log(pred / true)) over the
    # ten training videos, refining from the true box (widths +0.073, heights +0.021 in log;
    # docs/tracker.md "Box refinement"). Fitted on the training split only.
    refiner_size_calibration: tuple[float, float] = (0.93, 0.98)

    # --- composite tracker (not in RT-MDNet; issue 20, docs/tracker.md "Composite tracker") ----
    # "reference": RT-MDNet alone, as the paper (plus box_refiner). "composite": NanoTrack v3's
    # Siamese network proposes peaks with a state of its own, the online classifier verifies
    # them, one rule (composite/rule.py) decides box and TRACKING/LOST, a gate decides learning.
    mode: str = "composite"
    # Folder of the Siamese network (NanoTrack v3 layout: nanotrack_backbone.onnx +
    # nanotrack_head.onnx) used by the composite tracker; "" = the one shipped in the package.
    siamese_dir: str = ""
    composite_peaks: int = 3  # Siamese peaks verified per frame
    # A peak "agrees" with the classifier's box at this IoU (the overlap a one-cell shift of the
    # Siamese grid keeps on a small target).
    composite_agree_iou: float = 0.3
    # ... and one part is confident: the classifier (logit > success_threshold) or the Siamese
    # head (target probability >= this; NanoTrack's peaks on the target sit at 0.95-1.0).
    composite_agree_prob: float = 0.9
    # A verified peak replaces the classifier's box when its logit >= that box's logit + margin.
    composite_margin: float = 0.0
    # Learn only from frames where both parts agree (False: every TRACKING frame).
    composite_update_gate: bool = True
    # Re-detection: after this many LOST frames (0 = never) the Siamese network sweeps the frame
    # one window per frame; a peak with probability >= redetect_prob resumes the track when its
    # classifier logit exceeds success_threshold + redetect_margin, or exceeds
    # success_threshold - redetect_margin and the classifier's own box by redetect_margin.
    composite_redetect_after: int = 5
    composite_redetect_prob: float = 0.5
    composite_redetect_margin: float = 1.0

    # Recovery after loss (not in RT-MDNet, whose search stays at cand_trans_failure however
    # long the target is lost). After recovery_after consecutive failed frames, each frame
    # searches one tile of a sweep over the whole frame: the area one scene crop of
    # recovery_max_crop px covers at the target's scale (about 6x a normal crop's area at 800),
    # with recovery_candidates uniform candidates; tiles nearest the loss first.
    # 0 = off (reference). docs/tracker.md "Recovery after loss".
    recovery_after: int = 0
    recovery_max_crop: int = 800
    recovery_candidates: int = 512

    # --- 8. bounding-box regression -------------------------------------------------------------
    bbox_regression: bool = True  # reference 8 / paper ablation
    # Which regressor refines the box. "first_frame" (reference 8): ridge fitted on the first
    # frame only. "offline": the model file's regressor, fitted across all training domains
    # (training/box_regression.py), no first-frame fit. "offline+first_frame": the first-frame
    # fit pulled towards the offline one (ridge on W - W_offline). Without an offline regressor
    # in the model the tracker falls back to "first_frame" and logs it.
    bbreg_source: str = "first_frame"
    bbreg_alpha: float = 1000.0  # reference 8: ridge alpha
    bbreg_accept_iou: float = 0.6  # reference 8: IoU(orig, pred) >= 0.6
    # Reference 8: area(orig)/area(pred) in [1, 2], i.e. predictions may only shrink the box.
    # Default [0.5, 2] (symmetric) lets regression follow a growing target (docs/tracker.md).
    bbreg_accept_area: tuple[float, float] = (0.5, 2.0)

    @classmethod
    def reference(cls, **changes: Any) -> TrackerOptions:
        """Options with every number at its reference value (slower on CPU than the defaults)."""
        return cls(**{**REFERENCE_VALUES, **changes})

    def __post_init__(self) -> None:
        if self.roi_mode not in ("adaptive", "align", "pool"):
            raise ValueError(f"roi_mode must be adaptive, align or pool, not {self.roi_mode!r}")
        check_device_name(self.device)  # the one device rule (rtmdnet_ros/device.py)
        if self.bbreg_source not in ("first_frame", "offline", "offline+first_frame"):
            raise ValueError(
                "bbreg_source must be first_frame, offline or offline+first_frame, not "
                f"{self.bbreg_source!r}"
            )
        if self.box_refiner not in ("auto", "none", "nanotrack_v3"):
            raise ValueError(
                f"box_refiner must be auto, none or nanotrack_v3, not {self.box_refiner!r}"
            )
        if self.mode not in ("reference", "composite"):
            raise ValueError(f"mode must be reference or composite, not {self.mode!r}")
        if self.composite_peaks < 1:
            raise ValueError("composite_peaks must be >= 1")
        if self.composite_redetect_after < 0:
            raise ValueError("composite_redetect_after must be >= 0 (0 = never)")
        if self.runtime not in ("auto", "torch", "onnxruntime"):
            raise ValueError(f"runtime must be auto, torch or onnxruntime, not {self.runtime!r}")
        if self.update_mode not in ("sync", "async"):
            raise ValueError(f"update_mode must be sync or async, not {self.update_mode!r}")
        if not self.jitter:
            raise ValueError("jitter needs at least one entry (the original crop)")
        for name in ("n_candidates", "top_k", "batch_pos", "eval_chunk", "roi_chunk"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.top_k > self.n_candidates:
            raise ValueError("top_k cannot exceed n_candidates")
        if self.recovery_after < 0:
            raise ValueError("recovery_after must be >= 0 (0 = off)")
        if self.recovery_after and (self.recovery_candidates < self.top_k
                                    or self.recovery_max_crop < self.img_size):
            raise ValueError("recovery needs recovery_candidates >= top_k and "
                             "recovery_max_crop >= img_size")


@dataclass(frozen=True)
class TrainOptions(_DictMixin):
    """Offline multi-domain pretraining options (reference section 9)."""

    frames_per_step: int = 8  # reference 9: 8 frames per step, one domain
    n_pos: int = 64  # reference 9 (authors' code; the paper describes 32)
    n_neg: int = 196  # reference 9 (authors' code; the paper describes 96)
    pos_trans: float = 0.1  # reference 9: positives gaussian 0.1 / 1.2 / aspect 1.1
    pos_scale: float = 1.2  # reference 9
    pos_aspect: float = 1.1  # reference 9
    pos_iou: float = 0.7  # reference 9: IoU >= 0.7
    neg_trans: float = 1.0  # reference 9: negatives uniform 1 / 1.2 / 1.1
    neg_scale: float = 1.2  # reference 9
    neg_aspect: float = 1.1  # reference 9
    neg_iou: float = 0.5  # reference 9: IoU <= 0.5
    scale_jitter_base: float = 1.1  # reference 9: frame scale jitter 1.1^clip(3N, -2, 2)
    scale_jitter_std: float = 3.0  # reference 9
    scale_jitter_clip: float = 2.0  # reference 9
    img_size: int = 107  # reference 3
    padding: float = 1.2  # reference 3
    instance_alpha: float = 0.1  # reference 9: loss = binary + 0.1 * instance loss
    instance_max_other: int = 100  # reference 9: own branch + up to 100 random other branches
    lr: float = 1e-4  # reference 9
    momentum: float = 0.9  # reference 9
    weight_decay: float = 5e-4  # reference 9
    accumulate_domains: int = 50  # reference 9: gradients accumulated over 50 domains
    grad_clip: float = 10.0  # reference 9
    roi_mode: str = "adaptive"  # reference 2
    backbone: str = "efficientnet_lite0"
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)  # free-form notes for the recipe
