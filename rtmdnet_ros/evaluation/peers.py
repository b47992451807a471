# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Every tracker under evaluation behind one small interface, ours included.

``init(frame, box)`` then ``update(frame) -> (box, score or None, ok)``; ``frame`` is BGR uint8
unless the tracker sets ``wants_rgb`` (then the runner hands it the RGB copy it converted once per
sequence). Boxes are (x, y, w, h) floats in the ground truth's own convention.

"Not ok" is handled as each library means it. OpenCV's trackers return ``False`` when their
detector's confidence is below its threshold; they then leave their internal target where it was
and give no box (the returned rectangle is not written). We therefore report the previous box for
that frame, flag it ``ok = False`` and keep calling ``update``, as the library keeps searching
around its last position. dlib's correlation tracker never fails (it returns a peak-to-sidelobe
score). Our tracker always returns its estimate and its own success flag, which we record as is.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from rtmdnet_ros.options import UNTRAINED  # noqa: F401 - the CLI and the tests take it here
from rtmdnet_ros.packaged_models import DEFAULT_MODEL
from rtmdnet_ros.sequences import default_data_root

NANOTRACK_BACKBONE = "nanotrack_backbone_sim.onnx"
NANOTRACK_HEAD = "nanotrack_head_sim.onnx"


class PeerUnavailable(RuntimeError):
    """A tracker that cannot run here (library or model missing): reported as skipped."""


class EvalTracker(Protocol):
    """What the runner needs from a tracker."""

    name: str
    wants_rgb: bool

    def init(self, frame: np.ndarray, box: np.ndarray) -> None:
        """Start tracking ``box`` (x, y, w, h) in ``frame``."""

    def update(self, frame: np.ndarray) -> tuple[np.ndarray, float | None, bool]:
        """Return (box, score or None, ok) for the next frame."""


@dataclass(frozen=True)
class Settings:
    """Everything a tracker factory may need; part of it goes into the resume fingerprint."""

    model: str | None = None  # our tracker's model file (None = packaged default)
    overrides: dict[str, Any] = field(default_factory=dict)  # TrackerOptions overrides
    device: str | None = "cpu"
    nanotrack_dir: str | None = None  # folder with the two NanoTrack ONNX files
    threads: int = 1


def default_nanotrack_dir() -> Path:
    """$RTMDNET_NANOTRACK_DIR, else the shared models folder beside the data folder."""
    env = os.environ.get("RTMDNET_NANOTRACK_DIR")
    if env:
        return Path(env)
    return default_data_root().parent / "models" / "nanotrack"


def _int_rect(box: np.ndarray) -> tuple[int, int, int, int]:
    """OpenCV's new tracker API takes an integer cv::Rect; keep at least 1 px each side."""
    x, y, w, h = (float(v) for v in box)
    return round(x), round(y), max(1, round(w)), max(1, round(h))


class OpenCVTracker:
    """An OpenCV (contrib) tracker; see the module docstring for the "not ok" rule."""

    wants_rgb = False

    def __init__(
        self,
        name: str,
        create: Callable[[], Any],
        legacy: bool,
        seed: int,
        score: Callable[[Any], float] | None = None,
    ):
        self.name = name
        self._create = create
        self._legacy = legacy  # legacy API: float Rect2d in and out
        self._seed = seed
        self._score = score
        self._impl: Any = None
        self._box = np.zeros(4)

    def init(self, frame: np.ndarray, box: np.ndarray) -> None:
        """Create a fresh OpenCV tracker (they cannot be re-initialised) and start it."""
        cv2.setRNGSeed(self._seed)  # MIL draws random samples from OpenCV's global RNG
        self._impl = self._create()
        rect = tuple(float(v) for v in box) if self._legacy else _int_rect(box)
        ok = self._impl.init(frame, rect)
        if ok is False:  # legacy trackers return a bool, the new ones None
            raise RuntimeError(f"{self.name}: init refused box {rect}")
        self._box = np.asarray(box, dtype=np.float64).copy()

    def update(self, frame: np.ndarray) -> tuple[np.ndarray, float | None, bool]:
        """Track one frame; on "not ok" repeat the previous box (OpenCV keeps it too)."""
        ok, rect = self._impl.update(frame)
        if ok:
            self._box = np.asarray(rect, dtype=np.float64)
        score = self._score(self._impl) if self._score is not None and ok else None
        return self._box, score, bool(ok)


class DlibTracker:
    """dlib's correlation_tracker (the DSST scale-space filter of Danelljan et al.)."""

    wants_rgb = True
    name = "dsst"

    def __init__(self) -> None:
        import dlib

        self._dlib = dlib
        self._impl = dlib.correlation_tracker()

    def init(self, frame: np.ndarray, box: np.ndarray) -> None:
        """Start on (x, y, w, h); a float rectangle keeps sub-pixel ground truth."""
        x, y, w, h = (float(v) for v in box)
        self._impl.start_track(frame, self._dlib.drectangle(x, y, x + w, y + h))

    def update(self, frame: np.ndarray) -> tuple[np.ndarray, float | None, bool]:
        """Track one frame; the score is dlib's peak-to-sidelobe ratio."""
        psr = self._impl.update(frame)
        r = self._impl.get_position()
        box = np.array([r.left(), r.top(), r.right() - r.left(), r.bottom() - r.top()])
        return box, float(psr), True


class RTMDNetTracker:
    """Our tracker through its public API (docs/design.md); it takes RGB frames."""

    wants_rgb = True

    def __init__(self, settings: Settings, seed: int, name: str = "rtmdnet"):
        from rtmdnet_ros.tracker import Tracker

        self.name = name
        self.last_branch = ""  # the decision branch of the last frame (TrackResult.branch)
        # The tracker layers the overrides over the model file's own options (Tracker docstring).
        self._impl = Tracker(
            model=settings.model, overrides=settings.overrides, device=settings.device, seed=seed
        )

    def init(self, frame: np.ndarray, box: np.ndarray) -> None:
        """First-frame training on the ground-truth box."""
        self._impl.init(frame, np.asarray(box, dtype=np.float64))

    def update(self, frame: np.ndarray) -> tuple[np.ndarray, float | None, bool]:
        """Track one frame; score = the tracker's raw mean logit, ok = its success flag."""
        result = self._impl.update(frame)
        self.last_branch = result.branch
        return (
            np.asarray(result.box_xywh, dtype=np.float64),
            float(result.score),
            bool(result.success),
        )


class SiameseTracker:
    """The composite's Siamese proposer alone, as a tracker: what the verifier adds to it."""

    wants_rgb = True

    def __init__(self, model_dir: Path) -> None:
        from rtmdnet_ros.composite.proposer import SiameseProposer

        self.name = "siamese"
        self._impl = SiameseProposer(model_dir)

    def init(self, frame: np.ndarray, box: np.ndarray) -> None:
        """Take the template."""
        self._impl.init(frame, np.asarray(box, dtype=np.float64))

    def update(self, frame: np.ndarray) -> tuple[np.ndarray, float | None, bool]:
        """Follow the best peak; score = its target probability."""
        best = self._impl.propose(frame)[0]
        self._impl.advance(best, (frame.shape[1], frame.shape[0]))
        return self._impl.box, best.prob, True


# ---- registry -------------------------------------------------------------------------------


def _cv_factory(attr: str, legacy: bool) -> Callable[[], Any]:
    """Find ``Tracker<X>.create`` (new API) or ``legacy.Tracker<X>_create``; else unavailable."""
    if legacy:
        module = getattr(cv2, "legacy", None)
        if module is None:
            raise PeerUnavailable(
                f"cv2.legacy missing in OpenCV {cv2.__version__} (needs opencv-contrib-python)"
            )
        fn = getattr(module, f"{attr}_create", None)
        if fn is None:
            raise PeerUnavailable(f"cv2.legacy.{attr}_create missing in OpenCV {cv2.__version__}")
        return fn
    cls = getattr(cv2, attr, None)
    if cls is not None and hasattr(cls, "create"):
        return cls.create
    fn = getattr(cv2, f"{attr}_create", None)
    if fn is None:
        raise PeerUnavailable(f"cv2.{attr} missing in OpenCV {cv2.__version__}")
    return fn


def _nanotrack_paths(settings: Settings) -> tuple[Path, Path]:
    folder = Path(settings.nanotrack_dir) if settings.nanotrack_dir else default_nanotrack_dir()
    backbone, head = folder / NANOTRACK_BACKBONE, folder / NANOTRACK_HEAD
    missing = [str(p) for p in (backbone, head) if not p.is_file()]
    if missing:
        raise PeerUnavailable(f"NanoTrack model file(s) not found: {', '.join(missing)}")
    return backbone, head


def _nanotrack_factory(settings: Settings) -> Callable[[], Any]:
    if not hasattr(cv2, "TrackerNano_Params"):
        raise PeerUnavailable(f"cv2.TrackerNano missing in OpenCV {cv2.__version__}")
    backbone, head = _nanotrack_paths(settings)

    def create() -> Any:
        params = cv2.TrackerNano_Params()
        params.backbone = str(backbone)  # read in place, never copied
        params.neckhead = str(head)
        return cv2.TrackerNano.create(params)

    return create


_OPENCV = {
    # name: (attribute, legacy API?)
    "csrt": ("TrackerCSRT", False),
    "kcf": ("TrackerKCF", False),
    "mil": ("TrackerMIL", False),
    "mosse": ("TrackerMOSSE", True),
    "medianflow": ("TrackerMedianFlow", True),
}
PEER_NAMES = ("csrt", "kcf", "mil", "mosse", "medianflow", "nanotrack", "dsst", "siamese")
# "reference": our tracker as the paper has it (mode=reference, no Siamese part at all), measured
# beside the default in every report.
REFERENCE_OVERRIDES = {"mode": "reference", "box_refiner": "none"}
ALL_NAMES = ("rtmdnet", "reference") + PEER_NAMES
# The Siamese peers' flag is always "ok" and their score is a target probability: present when
# more likely than not. The long-term report adds each one's best threshold on the data as an
# oracle beside it.
PROBABILITY_PRESENCE = 0.5


@dataclass(frozen=True)
class TrackerSpec:
    """A tracker that can run here: how to make one per (sequence, seed), and its fingerprint."""

    name: str
    make: Callable[[int], EvalTracker]
    config: dict[str, Any]
    seeded: bool  # False: deterministic, one seed is enough
    wants_rgb: bool = False  # the runner hands it the RGB copy of the frames
    # Long-term evaluation: a score at or above this also says "present", for trackers whose own
    # flag never says the target is gone (None: the flag alone).
    presence_threshold: float | None = None


def _file_id(path: str | None) -> dict[str, Any]:
    if path is None:
        return {"path": None}
    p = Path(path)
    stat = p.stat() if p.exists() else None
    return {
        "path": str(p.resolve()),
        "size": stat.st_size if stat else None,
        "mtime_ns": stat.st_mtime_ns if stat else None,
    }


def _core_fingerprint() -> str:
    """Hash of the core sources, so stored runs of an older tracker version are not reused."""
    import hashlib

    core = Path(__file__).resolve().parents[1]
    digest = hashlib.sha1()
    for source in sorted([*core.glob("*.py"), *core.glob("composite/*.py")]):
        digest.update(str(source.relative_to(core)).encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()[:12]


def resolve(name: str, settings: Settings) -> TrackerSpec:
    """Return the spec for ``name`` or raise PeerUnavailable with the reason it cannot run."""
    if name in _OPENCV:
        attr, legacy = _OPENCV[name]
        create = _cv_factory(attr, legacy)
        config = {"library": f"opencv {cv2.__version__}", "api": attr, "legacy": legacy}
        return TrackerSpec(
            name, lambda seed: OpenCVTracker(name, create, legacy, seed), config, name == "mil"
        )
    if name == "nanotrack":
        create = _nanotrack_factory(settings)
        backbone, head = _nanotrack_paths(settings)
        config = {
            "library": f"opencv {cv2.__version__}",
            "backbone": str(backbone),
            "neckhead": str(head),
        }
        return TrackerSpec(
            name,
            lambda seed: OpenCVTracker(
                name, create, False, seed, score=lambda t: float(t.getTrackingScore())
            ),
            config,
            False,
            presence_threshold=PROBABILITY_PRESENCE,
        )
    if name == "dsst":
        try:
            dlib = importlib.import_module("dlib")
        except ImportError as exc:
            raise PeerUnavailable(f"dlib not installed ({exc}); pip install dlib-bin") from exc
        if not hasattr(dlib, "correlation_tracker"):
            raise PeerUnavailable("dlib has no correlation_tracker")
        return TrackerSpec(
            name, lambda seed: DlibTracker(), {"library": f"dlib {dlib.__version__}"}, False, True
        )
    if name == "siamese":
        from rtmdnet_ros.packaged_models import siamese_dir

        folder = siamese_dir(str(settings.overrides.get("siamese_dir", "")))
        files = [folder / "nanotrack_backbone.onnx", folder / "nanotrack_head.onnx"]
        if not all(f.is_file() for f in files):
            raise PeerUnavailable(f"Siamese network not found in {folder}")
        config = {"code": _core_fingerprint(), **{f.name: _file_id(str(f)) for f in files}}
        return TrackerSpec(
            name,
            lambda seed: SiameseTracker(folder),
            config,
            False,
            True,
            presence_threshold=PROBABILITY_PRESENCE,
        )
    if name in ("rtmdnet", "reference"):
        if name == "reference":
            settings = replace(settings, overrides={**settings.overrides, **REFERENCE_OVERRIDES})
        model = settings.model or (str(DEFAULT_MODEL) if DEFAULT_MODEL.exists() else None)
        config = {
            "code": _core_fingerprint(),
            "model": _file_id(model),
            "overrides": dict(sorted(settings.overrides.items())),
            "device": settings.device,
        }
        from rtmdnet_ros.options import TrackerOptions

        if settings.overrides.get("mode", TrackerOptions().mode) == "composite":
            # The composite's Siamese network is part of what was measured.
            from rtmdnet_ros.packaged_models import siamese_dir

            folder = siamese_dir(str(settings.overrides.get("siamese_dir", "")))
            config["siamese"] = {f.name: _file_id(str(f)) for f in sorted(folder.glob("*.onnx"))}
        return TrackerSpec(name, lambda seed: RTMDNetTracker(settings, seed, name), config, True,
                           True)
    raise ValueError(f"unknown tracker {name!r}; choose from {', '.join(ALL_NAMES)} or 'all'")
