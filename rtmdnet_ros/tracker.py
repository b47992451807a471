# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The tracker's front door: options and network in, ``init`` / ``update`` / ``close``.

The work is done by parts with one job each (docs/design.md, "The tracker core"):
``model_loading`` (which network, which options), ``classifier`` (RT-MDNet's online classifier,
its memory and search area), and a frame policy: the paper's (``reference_policy``) or the
composite's (``composite/policy``). This class only builds them from one set of options and
passes frames through.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Protocol

import numpy as np
import torch

from . import onnx_runtime
from .classifier import OnlineClassifier, TrainingCancelled
from .composite.policy import CompositePolicy
from .composite.siamese_policy import SiamesePolicy
from .device import resolve_device
from .geometry import validate_box
from .inputs import check_image
from .model_loading import load_model
from .options import TrackerOptions
from .reference_policy import ReferencePolicy
from .track_types import Classification, Meter, TrackResult

LOG = logging.getLogger(__name__)
# How long a cancelled first-frame training may take to stop before the wait is said in the log:
# it stops at its next step, which on a loaded or swapping machine can take seconds, and a
# process that ignores Ctrl-C meanwhile must say why.
TRAINING_STOP_NOTICE_S = 5.0


class FramePolicy(Protocol):
    """What the tracker needs of a frame step."""

    uses_classifier: bool  # False: the classifier is neither trained nor run

    def init(self, image: np.ndarray, box: np.ndarray) -> None:
        """Start on the first frame's checked box, after the classifier has learnt it."""

    def step(self, image: np.ndarray) -> TrackResult:
        """Answer one frame."""


class Tracker:
    """Single-object tracker (see docs/tracker.md for the defaults and deviations).

    A tracker's options are fixed when it is built (``options`` is read-only): every part that
    depends on them is set up from one value, so a change can never reach some parts and not
    others. To track with other options, build another tracker. How ``options``, the model's
    stored options and ``overrides`` are layered: model_loading.py.
    """

    def __init__(
        self,
        options: TrackerOptions | None = None,
        model: Any = None,
        device: str | torch.device | None = None,
        seed: int | None = None,
        overrides: dict[str, Any] | None = None,
    ) -> None:
        self._overrides = dict(overrides or {})
        requested = options.execution.device if options is not None else "auto"
        requested = self._overrides.get("device", requested) if device is None else device
        self.device = resolve_device(requested)
        LOG.info("tracker on %s", self.device)
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % (2**63))
            LOG.info("no seed given; using %d (pass seed= to reproduce)", seed)
        self.seed = int(seed)
        loaded = load_model(model, options, self._overrides, self.device, self.seed)
        self.net, self._options = loaded.net, loaded.options
        self.head_pretrained = loaded.head_pretrained
        if self._options.execution.torch_threads > 0:
            onnx_runtime.set_frame_threads(self._options.execution.torch_threads)
        for _, p in self.net.named_backbone_parameters():
            p.requires_grad_(False)
        self.net.eval()
        self._meter = Meter(self.device)
        self.classifier = OnlineClassifier(self.net, self._options, self.device, self.seed,
                                           self._meter, head_pretrained=loaded.head_pretrained,
                                           regressor=loaded.regressor)
        self._policy: FramePolicy
        if self._options.mode == "composite":
            self._policy = CompositePolicy(self.classifier, self._options, self._meter)
        elif self._options.mode == "siamese":
            self._policy = SiamesePolicy(self._options, self._meter)
        else:
            self._policy = ReferencePolicy(self.classifier, self._options, self._meter)
        self._classifies = self._policy.uses_classifier
        # Only the composite can answer frames before its classifier has learnt the target.
        self._background_first_frame = (self._options.mode == "composite"
                                        and self._options.execution.first_frame == "background")
        self._training: threading.Thread | None = None
        self._training_cancel = threading.Event()
        self._training_error: BaseException | None = None
        self._initialised = False

    @property
    def options(self) -> TrackerOptions:
        """Return the options this tracker was built with (read-only: build another to change)."""
        return self._options

    @property
    def overrides(self) -> dict[str, Any]:
        """Return the explicit ``overrides`` given at construction.

        So a caller (the node) can build the next tracker with a few more on top.
        """
        return dict(self._overrides)

    @property
    def runtime(self) -> str:
        """The backbone's runtime: "torch" or "onnxruntime"."""
        return self.classifier.features.runtime

    @property
    def timings(self) -> dict[str, float]:
        """Seconds spent per stage since construction."""
        return self._meter.timings

    @property
    def counters(self) -> dict[str, int]:
        """Frames, updates, recovery frames and (composite) branches since construction."""
        return self._meter.counters

    @property
    def box_refinement(self) -> bool:
        """Whether the Siamese box refiner runs (reference mode; ``auto`` needs its files)."""
        return getattr(self._policy, "refiner", None) is not None

    def init(self, image: np.ndarray, box_xywh) -> None:
        """Learn the target from the first frame (reference 5) and start the frame policy."""
        start = time.perf_counter()
        image = check_image(image)
        target = validate_box(box_xywh, image.shape[1], image.shape[0])
        self._initialised = False  # a failed init must not leave a half-reset tracker usable
        self._join_training()
        self._stop_verification()  # the worker must be out of the classifier before it learns
        if self._background_first_frame:
            self.classifier.forget()  # not ready until the thread has trained it
            self._policy.init(image, target.copy())
            self._training_error = None
            # Not a daemon: a process ending mid-training cancels it and waits for the step in
            # progress rather than tearing torch down under it (a segfault on Ctrl-C).
            self._training_cancel = threading.Event()
            self._training = threading.Thread(target=self._train_first_frame,
                                              args=(image, target, self._training_cancel),
                                              name="first-frame")
            self._training.start()
        else:
            if self._classifies:
                self.classifier.init(image, target)
            self._policy.init(image, target.copy())
        self._initialised = True
        self._meter.timings["init"] += time.perf_counter() - start

    @property
    def verifier_ready(self) -> bool:
        """Whether the classifier has learnt the target (not while it trains in the background)."""
        return not self._classifies or self.classifier.ready

    def wait_until_ready(self, timeout: float = 30.0) -> bool:
        """Block until a background first-frame training has finished (tests, offline tools)."""
        if self._training is not None:
            self._training.join(timeout)
        return self.verifier_ready

    def _train_first_frame(self, image: np.ndarray, target: np.ndarray,
                           cancel: threading.Event) -> None:
        try:
            self.classifier.init(image, target, cancel)
        except TrainingCancelled:
            self.classifier.forget()
        except Exception as exc:  # surfaced by the next update(), in the caller's thread
            self._training_error = exc

    def _join_training(self) -> None:
        """Stop a background training before the classifier is reused or closed.

        Its target is being replaced or dropped: cancelled, it ends within one training step.
        """
        training, self._training = self._training, None
        if training is not None:
            self._training_cancel.set()
            training.join(TRAINING_STOP_NOTICE_S)
            if training.is_alive():
                LOG.warning("waiting for the first frame's training to stop: cancelled, it "
                            "ends after the step in progress (slow on a loaded machine)")
                training.join()

    def update(self, image: np.ndarray) -> TrackResult:
        """Track one frame and return its box, score and the one TRACKING/LOST decision."""
        if not self._initialised:
            raise ValueError("update() called before init(): give the first frame and box first")
        image = check_image(image)
        if self._training_error is not None:
            error, self._training_error = self._training_error, None
            self._initialised = False
            raise ValueError(f"the first frame's training failed: {error}") from error
        self._meter.count("frames")
        if self._classifies and self.classifier.ready and not self.verifies_aside:
            self.classifier.begin_frame()  # aside: the verification worker takes the head
        return self._policy.step(image)

    def score_box(self, image: np.ndarray, box_xywh) -> float:
        """Return the online classifier's logit for one box on ``image``.

        The judge of the tracker's own verdicts (a logit above
        ``options.rtmdnet.success_threshold`` is the target), offered so that a box from
        elsewhere (a detector's, after a loss) is accepted by the same rule. Raises ValueError
        while the classifier has learnt no target (before init, while it trains in the
        background, or in siamese mode, which has none).
        """
        if not (self._initialised and self._classifies and self.classifier.ready):
            raise ValueError("no learnt target to score a box against: init() first (siamese "
                             "mode has no classifier)")
        image = check_image(image)
        box = validate_box(box_xywh, image.shape[1], image.shape[0])
        self.wait_for_verification()  # aside, the classifier is the worker's while it runs
        # No scene of this frame: the box is pooled from a crop of its own, at its own size.
        empty = Classification(np.zeros((0, 4)), None, np.zeros(0, dtype=int), 0.0, box, None,
                               np.zeros(4), box[2:].copy())
        return float(self.classifier.score_boxes(image, empty, box[None])[0])

    @property
    def verifies_aside(self) -> bool:
        """Whether verification runs beside the frame path (``composite_verify_aside``)."""
        return bool(getattr(self._policy, "verifies_aside", False))

    def wait_for_verification(self, timeout: float = 30.0) -> bool:
        """Block until a verification running aside has finished (tests; no-op in sequence).

        Its verdict applies at the next ``update``.
        """
        wait = getattr(self._policy, "wait_idle", None)
        return wait(timeout) if callable(wait) else True

    def _stop_verification(self) -> None:
        """Wait for a verification running aside and drop its verdict (init, close)."""
        close = getattr(self._policy, "close", None)
        if callable(close):
            close()

    def wait_for_updates(self, timeout: float = 10.0) -> bool:
        """Block until a running online update has finished (async mode; no-op otherwise).

        For tests and offline tools that want every update applied; a live node never calls it.
        """
        return self.classifier.wait_for_updates(timeout)

    def close(self) -> None:
        """Stop the online-update worker, if any; the tracker then needs a new ``init``."""
        self._initialised = False
        self._join_training()
        self._stop_verification()
        self.classifier.close()
