# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Every tunable number of the tracker and of offline pretraining, in one place.

Each field carries the reference value (docs/rtmdnet-reference.md, section given in the comment).
Where a CPU-speed default differs from the reference, the reference value is kept in a comment and
the deviation, with the measurement that motivated it, is documented in docs/tracker.md. Options
travel inside model files and YAML files as plain dicts (``to_dict`` / ``from_dict``).

``TrackerOptions`` is grouped by the component that reads each option (``options.rtmdnet.top_k``,
``options.composite.peaks``); outside code names every option by one flat key (``top_k``,
``composite_peaks``), the keys YAML, ``--set``, ``overrides=`` and model files have always used.
``FLAT_KEYS`` is the one mapping between the two.
"""

from __future__ import annotations

import dataclasses
import difflib
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

# The values a choice option accepts, defined once: the options' checks, their messages, the
# node's parameter descriptions and the command lines' choices all read these.
# mode: the frame step (docs/tracker.md "Composite tracker"; composite/siamese_policy.py)
MODES = ("composite", "reference", "siamese")
UPDATE_MODES = ("sync", "async")  # execution.update_mode
FIRST_FRAME_MODES = ("inline", "background")  # execution.first_frame
RUNTIMES = ("auto", "torch", "onnxruntime")  # execution.runtime (backbone_runtime.py)
ROI_MODES = ("adaptive", "align", "pool")  # network.roi_mode (roi_align.py)
BOX_REFINERS = ("auto", "none", "nanotrack_v3")  # refiner.kind, flat key box_refiner
BBREG_SOURCES = ("first_frame", "offline", "offline+first_frame")  # rtmdnet.bbreg_source


def one_of(allowed: Iterable[str]) -> str:
    """Write allowed values as a sentence does: "a, b or c"."""
    values = list(allowed)
    return values[0] if len(values) == 1 else f"{', '.join(values[:-1])} or {values[-1]}"


def check_choice(key: str, value: Any, allowed: tuple[str, ...]) -> None:
    """Raise ValueError naming ``key`` and the allowed values unless ``value`` is one of them."""
    if value not in allowed:
        raise ValueError(f"{key} must be {one_of(allowed)}, not {value!r}")


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


def _typed(owner: str, key: str, f: dataclasses.Field, value: Any) -> Any:
    """``value`` as the type of the field's default, or a ValueError naming key and value.

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
        raise ValueError(f"{owner} key {key} must be {kind}, got {value!r}")
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


def _plain(value: Any) -> Any:
    """Return a value as YAML and model files store it: tuples become lists, dicts copied."""
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


class _DictMixin:
    """Flat-dict round trip, so options can be stored in model files and YAML.

    Every option has one flat key (``n_candidates``, ``composite_peaks``): what YAML, ``--set``,
    ``overrides=`` and model files name it by. ``_flat_fields`` says where each key lives.
    """

    @classmethod
    def _flat_fields(cls) -> dict[str, tuple[tuple[str, ...], dataclasses.Field]]:
        """{flat key: (attribute path, field)}; a flat class: every field is its own key."""
        return {f.name: ((f.name,), f) for f in dataclasses.fields(cls)}

    @classmethod
    def _unknown(cls, keys: Iterable[str]) -> ValueError:
        """Return the error for keys that name no option, with the key meant where it can tell."""
        known = cls._flat_fields()
        # A field's own name, or its group and name joined, as someone guessing might write it.
        hints = {guess: key for key, (path, _) in known.items()
                 for guess in (path[-1], ".".join(path), "_".join(path)) if guess != key}
        named = []
        for key in sorted(keys):
            meant = hints.get(key) or next(iter(difflib.get_close_matches(key, known, 1)), None)
            named.append(f"{key} (did you mean {meant}?)" if meant else key)
        return ValueError(f"unknown {cls.__name__} keys: {', '.join(named)}")

    @classmethod
    def _flatten(cls, data: dict[str, Any], strict: bool) -> dict[str, Any]:
        """Return ``data`` with every key flat; unknown keys raise unless ``strict`` is False.

        A group may also be given nested, by field name: ``{"composite": {"peaks": 3}}`` is
        ``{"composite_peaks": 3}``.
        """
        known = cls._flat_fields()
        by_path = {path: key for key, (path, _) in known.items()}
        groups = {path[0] for path in by_path if len(path) > 1}
        flat: dict[str, Any] = {}
        unknown: list[str] = []
        for key, value in data.items():
            if key in groups and isinstance(value, dict):
                for name, v in value.items():
                    flat_key = by_path.get((key, name))
                    if flat_key is None:
                        unknown.append(f"{key}.{name}")
                    else:
                        flat[flat_key] = v
            elif key in known:
                flat[key] = value
            else:
                unknown.append(key)
        if unknown and strict:
            raise cls._unknown(unknown)
        return flat

    def to_dict(self) -> dict[str, Any]:
        """Return {flat key: plain value} (tuples become lists for YAML)."""
        out = {}
        for key, (path, _) in self._flat_fields().items():
            value: Any = self
            for name in path:
                value = getattr(value, name)
            out[key] = _plain(value)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, strict: bool = True):
        """Build options from a dict; unknown keys raise unless ``strict`` is False.

        Unknown keys are an error by default because a typo in a YAML file would otherwise be
        silently ignored and the reference value used instead. Values are typed here
        (``_typed``), as they come from JSON, YAML or ``--set``.
        """
        known = cls._flat_fields()
        flat = cls._flatten(dict(data or {}), strict)
        return cls().replace(**{k: _typed(cls.__name__, k, known[k][1], v)
                                for k, v in flat.items()})

    def with_overrides(self, overrides: dict[str, Any] | None):
        """Return a copy with ``overrides`` (plain values, as ``from_dict`` takes them) on top."""
        if not overrides:
            return self
        return type(self).from_dict({**self.to_dict(), **self._flatten(overrides, True)})

    def replace(self, **changes: Any):
        """Return a copy with some options changed, named by flat key (or a whole group).

        ``replace(composite_peaks=1)`` and ``replace(composite=CompositeOptions(peaks=1))`` give
        the same options; values are taken as they are (``from_dict`` types plain ones).
        """
        known = self._flat_fields()
        top: dict[str, Any] = {}
        nested: dict[str, dict[str, Any]] = {}
        unknown = []
        for key, value in changes.items():
            path = known[key][0] if key in known else None
            if path is not None and len(path) == 2:
                nested.setdefault(path[0], {})[path[1]] = value
            elif path is not None or key in self.__dataclass_fields__:
                top[key] = value  # a top-level option, or a whole group
            else:
                unknown.append(key)
        if unknown:
            raise self._unknown(unknown)
        for group, group_changes in nested.items():
            top[group] = dataclasses.replace(top.get(group, getattr(self, group)), **group_changes)
        return dataclasses.replace(self, **top)


class _Group:
    """An option group: the options one component reads, as a frozen dataclass.

    A field's flat key is ``KEY_PREFIX`` + its name, unless the field declares its own with
    ``_keyed`` (the key a model file or YAML has always used for it).
    """

    KEY_PREFIX = ""

    @classmethod
    def flat_key(cls, name: str) -> str:
        """Return field ``name``'s flat key: the one rule, for the table and the messages."""
        f = cls.__dataclass_fields__[name]
        return f.metadata.get("key", cls.KEY_PREFIX + name)

    def _check_choice(self, name: str, allowed: tuple[str, ...]) -> None:
        check_choice(self.flat_key(name), getattr(self, name), allowed)

    def _check_at_least(self, minimum: int, *names: str, meaning: str = "") -> None:
        for name in names:
            if getattr(self, name) < minimum:
                raise ValueError(f"{self.flat_key(name)} must be >= {minimum}{meaning}")


def _keyed(key: str, default: Any) -> Any:
    """Declare a field whose flat key is ``key`` rather than its group's prefix + its name."""
    return field(default=default, metadata={"key": key})


@dataclass(frozen=True)
class ExecutionOptions(_Group):
    """How the tracker runs: device, threads, backbone runtime, chunking, update thread.

    Read once when a ``Tracker`` is built (and by its online-update worker). None of them
    changes what is computed, except ``update_mode="async"`` whose boxes depend on thread timing.
    """

    device: str = "auto"  # "auto" (cuda when available), "cpu" or "cuda"
    # CPU threads of the frame path: torch, OpenCV and onnxruntime sessions alike, set once at
    # construction (onnx_runtime.set_frame_threads). 0 = leave torch's count alone (its default:
    # one per core), which the onnxruntime sessions then follow.
    torch_threads: int = 0
    # Backbone runtime (backbone_runtime.py): "auto" = onnxruntime on the CPU when it is
    # installed, PyTorch on CUDA; "torch" = PyTorch always (the reference: boxes bit-for-bit as
    # before); "onnxruntime" = required (CPU only). Why and how close: docs/tracker.md,
    # "Inference runtime".
    runtime: str = "auto"
    # RoIs pooled per call: bounds the pooling temporaries (peak RSS) without changing results.
    roi_chunk: int = 512
    # Where the online updates run. "sync" (reference 7): inside update(), so a frame that
    # triggers one waits for it; deterministic, used for evaluation. "async": on a copy of the
    # head in a worker thread, the new weights swapped in between frames (the node's default:
    # a frame never waits for learning; the result depends on thread timing).
    update_mode: str = "sync"
    # Niceness of the async update thread (Linux): CFS gives a nice-5 thread about a third of a
    # nice-0 thread's CPU share, so on busy cores the frame loop keeps precedence and the updates
    # still progress (docs/tracker.md, "Online updates off the frame loop").
    update_worker_nice: int = 5
    # Where the composite's first-frame training runs. "inline": inside init() (deterministic,
    # used for evaluation). "background": init() takes the Siamese template and returns; the
    # classifier trains in a thread while frames are answered from the Siamese network alone
    # (branch "warmup"), and verification starts once it is ready. Other modes: always inline.
    first_frame: str = "inline"
    # Return the backbone runtime's (onnxruntime) working memory after every pass. Its arena
    # otherwise keeps the largest working set of any crop size it was fed, and the classifier's
    # crop changes size with the target: a long-running process creeps up to the largest crop
    # any track needed. Releasing costs fresh pages on every pass (a slower backbone pass), so it
    # is for the node, which runs for hours; evaluations keep the arena (docs/node.md, soak).
    release_backbone_memory: bool = False

    def __post_init__(self) -> None:
        check_device_name(self.device)  # the one device rule (rtmdnet_ros/device.py)
        self._check_choice("runtime", RUNTIMES)
        self._check_choice("update_mode", UPDATE_MODES)
        self._check_choice("first_frame", FIRST_FRAME_MODES)
        self._check_at_least(1, "roi_chunk")


@dataclass(frozen=True)
class NetworkOptions(_Group):
    """The network and its input geometry (reference 1-3).

    ``backbone``, ``backbone_cut`` and ``dense_map`` shape a network built without a model file
    (``model="untrained"``, or a backbone other than the packaged model's); a loaded model file
    always brings its own. ``roi_mode``, ``img_size`` and ``padding`` are read by every crop
    and RoI computation of the tracker.
    """

    backbone: str = "efficientnet_lite0"  # default network when no model file is given
    # EfficientNet-Lite0 stage(s) the map is taken from: stage 3 and 4 stacked, more accurate than
    # stage 4 alone (docs/backbones.md, docs/ablations.md). The packaged model has this cut.
    backbone_cut: str = "stage3+4"
    dense_map: bool = True  # reference 1: stride-8 map; False = stride 16 (paper's ablation)
    roi_mode: str = "adaptive"  # "adaptive" | "align" | "pool" (reference 2, paper ablation)
    img_size: int = 107  # reference 3: the unpadded target becomes 107 px in the crop
    padding: float = 1.2  # reference 3: samples are enlarged by 1.2 (0.1*w each side)

    def __post_init__(self) -> None:
        self._check_choice("roi_mode", ROI_MODES)


@dataclass(frozen=True)
class RTMDNetOptions(_Group):
    """RT-MDNet itself, the paper's sections 3-8: samples, first frame, training, online loop.

    Read by the ``Tracker`` (sampling, memories, bounding-box regression) and its
    ``HeadTrainer``; the composite reads ``success_threshold`` for its verdicts.
    """

    # --- 3. the first-frame crops ---------------------------------------------------------------
    # Reference 3: seven first-frame jitter crops (REFERENCE_JITTER). CPU default: original and
    # the two 1.1^+-1 scales, since each crop is a full backbone pass (docs/tracker.md).
    jitter: tuple[Jitter, ...] = CPU_JITTER

    # --- 4. sample generators (trans, scale, aspect, n, filter) ---------------------------------
    cand_trans: float = 0.6  # reference 4: candidates, gaussian, valid
    cand_trans_failure: float = 1.4  # reference 4/7: search widened after a failure
    # Reference 4 (other values tried: docs/tracker.md, accuracy investigation).
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
    # Reference 4/8: area(sample)/area(gt) in [1, 2], so the regressor only learns to shrink
    # (other values tried: docs/tracker.md, accuracy investigation).
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
    # for the first-frame budget on CPU (docs/tracker.md).
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
    # Reference 6: scoring chunk size. Kept here, not with the execution knobs: the chunk is
    # the batch of the head's matrix products, whose float rounding can depend on it.
    eval_chunk: int = 256

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
    # Speed knob (not in the reference, which repeats the short-term update on every failed
    # frame from memories that only change on success): while no samples entered the memories
    # since the last short-term update, the next waits this many frames instead of
    # short_term_interval, so a long loss trains on the same samples less often.
    # 0 = reference behaviour (short_term_interval throughout), the default: spacing them cost
    # long-term accuracy (docs/tracker.md, "Short-term updates during a long loss").
    short_term_stale_interval: int = 0
    # Speed knob (not in the reference): pool the 50/200 update samples from the candidate
    # crop's feature map instead of a second crop + backbone pass, keeping only samples whose
    # padded box lies at least reuse_min_inside inside that crop. False = reference behaviour.
    reuse_candidate_crop: bool = True  # reference: False (a second crop per frame)
    reuse_min_inside: float = 0.7

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

    def __post_init__(self) -> None:
        self._check_choice("bbreg_source", BBREG_SOURCES)
        if not self.jitter:
            raise ValueError("jitter needs at least one entry (the original crop)")
        self._check_at_least(1, "n_candidates", "top_k", "batch_pos", "eval_chunk")
        self._check_at_least(0, "short_term_stale_interval", meaning=" (0 = off)")
        if self.top_k > self.n_candidates:
            raise ValueError("top_k cannot exceed n_candidates")


@dataclass(frozen=True)
class RefinerOptions(_Group):
    """Box refinement after the classifier (not in RT-MDNet; reference mode only).

    Read by ``Tracker`` in reference mode (siamese_refiner.py); the composite supersedes it.
    """

    KEY_PREFIX = "refiner_"

    # "nanotrack_v3": NanoTrack v3's trained Siamese head on a search window around the
    # classifier's box (siamese_refiner.py); it may only move the centre by a fraction of the box
    # size, so our classifier keeps the last word on which object it is; the refined box is also
    # where the next frame's candidates are drawn. It stops the box shrinking (docs/tracker.md,
    # scale drift). "auto": that when its weights are found, else "none" with a warning. "none":
    # the classifier's box and the regression only (RT-MDNet).
    kind: str = _keyed("box_refiner", "none")
    dir: str = ""  # "" = the Siamese network shipped in the package
    # Width/height factors on the head's predicted size: exp(-median log(pred / true)) over the
    # ten training videos, refining from the true box (docs/tracker.md "Box refinement").
    # Fitted on the training split only.
    size_calibration: tuple[float, float] = (0.93, 0.98)

    def __post_init__(self) -> None:
        self._check_choice("kind", BOX_REFINERS)


@dataclass(frozen=True)
class CompositeOptions(_Group):
    """The composite tracker (not in RT-MDNet; docs/tracker.md "Composite tracker").

    Read by composite/policy.py when ``mode`` is "composite": NanoTrack v3's Siamese network
    proposes peaks, the online classifier verifies them, one rule decides box and TRACKING/LOST,
    a gate decides learning.
    """

    KEY_PREFIX = "composite_"

    # Folder of the Siamese network (NanoTrack v3 layout: nanotrack_backbone.onnx +
    # nanotrack_head.onnx); "" = the one shipped in the package.
    siamese_dir: str = _keyed("siamese_dir", "")
    peaks: int = 3  # Siamese peaks verified per frame
    # A peak "agrees" with the classifier's box at this IoU (the overlap a one-cell shift of the
    # Siamese grid keeps on a small target).
    agree_iou: float = 0.3
    # ... and one part is confident: the classifier (logit > success_threshold) or the Siamese
    # head (target probability >= this; NanoTrack's peaks on the target sit at 0.95-1.0).
    agree_prob: float = 0.9
    # A verified peak replaces the classifier's box when its logit >= that box's logit + margin.
    margin: float = 0.0
    # Learn only from frames where both parts agree (False: every TRACKING frame).
    update_gate: bool = True
    # Presence: a verified frame is LOST (branch "absent") when the Siamese network's best peak
    # is below this probability, whatever the classifier says (composite/rule.py). Chosen from
    # a sweep of 0 / 0.7 / 0.8 / 0.9 on the development split, short-term and long-term
    # together: higher says LOST sooner when the target is gone and loses targets the Siamese
    # network sees weakly (docs/tracker.md, "The target leaves the view"). 0 = off.
    presence_prob: float = 0.8
    # What the parts do on a frame the presence test made LOST (composite/rule.py). Below
    # gone_prob, or with no branch vouching for a box, the target is gone: both parts wait
    # where the proposer is. At or above it, with a branch vouching for a box (the classifier
    # confident or agreeing), the Siamese network is only weak here: the parts follow that box
    # as on a tracked frame. 0.5: redetect_prob, the probability at which a peak counts as
    # target-like at all. 1 = always wait, 0 = wait only when no branch vouches.
    gone_prob: float = 0.5
    # While the track is LOST the best peak needs this probability to resume it (and a
    # re-detected candidate too): a look-alike in the scene that replaced the target reaches
    # presence_prob more often than the target's own return stays below this. 0.9: agree_prob,
    # the confidence the rule trusts on its own. 0 = presence_prob.
    resume_prob: float = 0.9
    # A LOST track that the rule finds again near the last place resumes at once while it has
    # been LOST for fewer than resume_after frames (a dropout); after that, anywhere, only once
    # the place has won redetect_confirm frames in a row, as a re-detection. 5: redetect_after,
    # where a loss stops being a dropout and the search starts. 0 = always at once (as before).
    resume_after: int = 5
    # A loss that has lasted resume_after frames ends only on a peak within
    # resume_level spreads of this track's own level of agreed Siamese peaks (composite/
    # calibration.py on the network's probability as a logit, each capped at resume_cap),
    # never below resume_prob nor above resume_cap: a stranger that reaches 0.9 on a track whose
    # target peaks at 1.0 is no return. 0 = off (resume_prob alone). 1 (one spread): chosen
    # from 1 and 2 on the development split, long-term over three seeds and short-term over
    # five (docs/tracker.md, "Resumes measured against the track's own peaks"). resume_cap
    # 0.99: the highest level asked, one step below the network's saturation (its peaks on a
    # target sit at 0.95-1.0, see agree_prob).
    resume_level: float = 1.0
    resume_cap: float = 0.99
    # A target whose first box is smaller than this (px, the square root of its area) is
    # followed without the presence and resume tests: a few pixels upsampled to the template
    # leave the Siamese network's probability no presence signal (it sinks on the target and
    # rises on look-alikes), so the state comes from the two witnesses' identity branches alone
    # (docs/tracker.md, "Targets of a few pixels"). 0 = the tests apply to every target.
    presence_min_size: float = 6.0
    # Re-detection: after this many LOST frames (0 = never) the Siamese network searches one
    # window per frame, the last place and a sweep of the frame in turn; among the window's peaks
    # with probability >= redetect_prob (and resume_prob), the one the classifier scores highest
    # is a candidate when its logit exceeds success_threshold + redetect_margin, or exceeds
    # success_threshold - redetect_margin and the classifier's own box by redetect_margin, and
    # exceeds every other such peak's by redetect_margin; the track resumes once a candidate has
    # won redetect_confirm frames in a row at one place (IoU >= agree_iou).
    redetect_after: int = 5
    redetect_prob: float = 0.5
    redetect_margin: float = 1.0
    redetect_confirm: int = 3
    # Optionally, once the target's level on the classifier's scale is known (composite/
    # calibration.py: the running mean and mean absolute deviation of the agreed peak's logit),
    # a candidate must lie at most redetect_level spreads below it instead of clearing the fixed
    # threshold. 0 = off (the default): on the long-term development cuts it let more look-alikes
    # in than it kept targets (docs/tracker.md, "The target leaves the view").
    redetect_level: float = 0.0
    # The level weighs the last level_frames agreements (RT-MDNet's long-term update interval,
    # reference 7); its spread is never below level_min_spread (one logit).
    level_frames: int = 10
    level_min_spread: float = 1.0
    # A third witness where a long loss would end (a resume confirmed after resume_after LOST
    # frames, an accepted re-detection): the RoI features of the target's last level_frames
    # agreed boxes (composite/witness.py). The candidate's cosine similarity to the nearest of
    # them must lie at most witness_spreads spreads below the target's own level of that
    # similarity (calibration.py; its spread never below witness_min_spread). 0 = off. 4: read
    # off the ends of long losses on the long-term development cuts over three seeds, in the
    # gap between the returning targets and the strangers both parts accepted (docs/tracker.md,
    # "A third witness"). witness_min_spread 0.01: the order of the smallest spread the
    # successive features of one target showed there, in cosine similarity.
    witness_spreads: float = 4.0
    witness_min_spread: float = 0.01
    # Verification schedule (composite/schedule.py; docs/tracker.md "Verification schedule"):
    # the classifier runs every verify_every-th frame (1 = every frame), at once when the
    # proposer is in doubt, and on every frame while LOST; between verifications the Siamese
    # box carries the last verified state. The period: development split, 5 seeds, AUC as with
    # every frame at a fraction of the cost (docs/tracker.md "Verification schedule").
    verify_every: int = 10
    # A best peak below this probability is in doubt: the same confidence ``agree_prob`` trusts.
    verify_doubt_prob: float = 0.9
    # A second peak reaching this fraction of the best one's probability, and not overlapping
    # it (IoU < verify_rival_iou, the same overlap as agree_iou), is a rival: a look-alike.
    verify_rival_ratio: float = 0.8
    verify_rival_iou: float = 0.3
    # A centre move beyond this fraction of the box's mean side in one frame is a jump (RT-MDNet
    # draws its candidates with a spread of 0.6 of the mean side: reference 4).
    verify_max_shift: float = 0.5
    # A width or height ratio beyond this in one frame is a size change (twice RT-MDNet's
    # candidate scale step of 1.05: reference 4).
    verify_max_resize: float = 1.1
    # Where verification runs (composite/aside.py; docs/tracker.md "Verification aside").
    # False (in sequence, deterministic for a seed: evaluation, rtmdnet-bag): inside update().
    # True (the node's choice; not in RT-MDNet, this project's): in a worker beside the frame
    # path, which answers every frame from the Siamese network and applies each verdict a
    # frame or two later, from the frame it judged on; the boxes then depend on thread timing.
    verify_aside: bool = False

    def __post_init__(self) -> None:
        self._check_at_least(1, "peaks", "verify_every", "redetect_confirm", "level_frames")
        if self.witness_spreads < 0.0 or self.witness_min_spread <= 0.0:
            raise ValueError("composite_witness_spreads must be >= 0 (0 = off) and "
                             "composite_witness_min_spread > 0")
        if self.redetect_level < 0.0 or self.level_min_spread <= 0.0:
            raise ValueError("composite_redetect_level must be >= 0 (0 = the fixed threshold) "
                             "and composite_level_min_spread > 0")
        if not 0.0 <= self.presence_prob < 1.0 or not 0.0 <= self.resume_prob < 1.0:
            raise ValueError("composite_presence_prob and composite_resume_prob must be in [0, 1)")
        if self.resume_level < 0.0 or not 0.0 < self.resume_cap < 1.0:
            raise ValueError("composite_resume_level must be >= 0 (0 = off) and "
                             "composite_resume_cap in (0, 1)")
        if not 0.0 <= self.gone_prob <= 1.0:
            raise ValueError("composite_gone_prob must be in [0, 1]")
        self._check_at_least(0, "presence_min_size", meaning=" (0 = every target tested)")
        self._check_at_least(0, "redetect_after", meaning=" (0 = never)")
        self._check_at_least(0, "resume_after", meaning=" (0 = at once near the last place)")
        if not 0.0 <= self.verify_doubt_prob <= 1.0 or not 0.0 < self.verify_rival_ratio:
            raise ValueError("composite_verify_doubt_prob must be in [0, 1] and "
                             "composite_verify_rival_ratio > 0")
        if self.verify_max_shift <= 0.0 or self.verify_max_resize < 1.0:
            raise ValueError("composite_verify_max_shift must be > 0 and "
                             "composite_verify_max_resize >= 1")


@dataclass(frozen=True)
class RecoveryOptions(_Group):
    """Recovery after loss (not in RT-MDNet; docs/tracker.md "Recovery after loss").

    Read by ``Tracker`` when it draws candidates. RT-MDNet's search stays at cand_trans_failure
    however long the target is lost. After ``after`` consecutive failed frames, each frame
    searches one tile of a sweep over the whole frame: the area one scene crop of ``max_crop``
    px covers at the target's scale (about 6x a normal crop's area at 800), with ``candidates``
    uniform candidates; tiles nearest the loss first. ``after`` = 0: off (reference).
    """

    KEY_PREFIX = "recovery_"

    after: int = 0
    max_crop: int = 800
    candidates: int = 512

    def __post_init__(self) -> None:
        self._check_at_least(0, "after", meaning=" (0 = off)")


@dataclass(frozen=True)
class TrackerOptions(_DictMixin):
    """Online tracking options, one group per component that reads them.

    ``mode`` picks the frame step; ``execution`` how it runs; ``network`` the network and crop
    geometry; ``rtmdnet`` the paper's sections 3-8; ``refiner`` the reference mode's box
    refiner; ``composite`` the composite tracker; ``recovery`` the search after a loss. Outside
    code, each option has a flat key (``FLAT_KEYS``): ``TrackerOptions().replace(n_candidates=
    128)``, ``--set composite_peaks=2``, model files and YAML all use those.
    """

    # "reference": RT-MDNet alone, as the paper (plus box_refiner). "composite": NanoTrack v3's
    # Siamese network proposes peaks with a state of its own, the online classifier verifies
    # them, one rule (composite/rule.py) decides box and TRACKING/LOST, a gate decides learning.
    # "siamese": that Siamese network alone (fastest; never reports LOST).
    mode: str = "composite"
    execution: ExecutionOptions = field(default_factory=ExecutionOptions)
    network: NetworkOptions = field(default_factory=NetworkOptions)
    rtmdnet: RTMDNetOptions = field(default_factory=RTMDNetOptions)
    refiner: RefinerOptions = field(default_factory=RefinerOptions)
    composite: CompositeOptions = field(default_factory=CompositeOptions)
    recovery: RecoveryOptions = field(default_factory=RecoveryOptions)

    @classmethod
    def _flat_fields(cls) -> dict[str, tuple[tuple[str, ...], dataclasses.Field]]:
        return _TRACKER_KEYS

    @classmethod
    def reference(cls, **changes: Any) -> TrackerOptions:
        """Options with every number at its reference value (slower on CPU than the defaults)."""
        return cls().replace(**{**REFERENCE_VALUES, **changes})

    def __post_init__(self) -> None:
        check_choice("mode", self.mode, MODES)
        # The one check across groups: a recovery tile must fit top_k and one normal crop.
        r = self.recovery
        if r.after and (r.candidates < self.rtmdnet.top_k or r.max_crop < self.network.img_size):
            raise ValueError("recovery needs recovery_candidates >= top_k and "
                             "recovery_max_crop >= img_size")


def _tracker_keys() -> dict[str, tuple[tuple[str, ...], dataclasses.Field]]:
    """{flat key: ((group, field), field)} of TrackerOptions; a top-level option is its own key."""
    keys: dict[str, tuple[tuple[str, ...], dataclasses.Field]] = {}
    for top in dataclasses.fields(TrackerOptions):
        group = _default(top)
        members = ([((top.name, f.name), f, group.flat_key(f.name))
                    for f in dataclasses.fields(group)] if isinstance(group, _Group)
                   else [((top.name,), top, top.name)])
        for path, f, key in members:
            if key in keys:
                raise AssertionError(f"flat key {key} names two options")
            keys[key] = (path, f)
    return keys


# The one mapping flat key <-> (group, field), in to_dict's order.
_TRACKER_KEYS = _tracker_keys()
FLAT_KEYS: dict[str, tuple[str, ...]] = {k: path for k, (path, _) in _TRACKER_KEYS.items()}


@dataclass(frozen=True)
class TrainOptions(_DictMixin):
    """Offline multi-domain pretraining options (reference section 9).

    Flat, unlike ``TrackerOptions``: one component (the trainer) reads all 27 of them, so each
    field is its own flat key.
    """

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
