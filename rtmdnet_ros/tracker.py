# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The RT-MDNet tracker: first-frame training, the online loop and its updates (reference 5-8).

One scene crop per frame goes through the backbone once; every candidate is pooled from that map
(the "real-time" in RT-MDNet). The fc head is fine-tuned on cached RoI features, so training
never runs the backbone. All randomness comes from generators owned by the tracker and re-seeded
at every ``init``, so the same seed and input give the same boxes on CPU.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import onnx_runtime
from .backbone_runtime import OnnxFeatureMap, choose_runtime
from .backbones import DEFAULT_EFFNET_CUT
from .bbox_regression import BBoxRegressor
from .crop import crop_scene, jitter_scene_boxes, to_tensor
from .device import resolve_device
from .geometry import (
    clip_box,
    covering_tiles,
    crop_size,
    fraction_inside,
    pad_boxes,
    samples_to_rois,
    scene_box,
    validate_box,
)
from .inputs import check_image
from .online_learning import AsyncHeadUpdater, HeadTrainer, head_parameters, is_branch
from .options import UNTRAINED, TrackerOptions
from .sampling import SampleGenerator, gen_samples

LOG = logging.getLogger(__name__)

DEFAULT_MODEL = Path(__file__).resolve().parent / "models" / "default.pt"
TIMING_STAGES = ("crop", "backbone", "roi", "head", "bbreg", "refine", "siamese", "update",
                 "init")


@dataclass
class TrackResult:
    """One frame's answer: the box (x, y, w, h), its score (a logit) and the state.

    ``success`` is the one TRACKING (True) / LOST decision: the node, ``rtmdnet-bag`` and
    ``rtmdnet-eval`` publish it as it is. ``branch`` names the rule that made it (composite
    mode: agree, siamese, classifier, lost, redetect; reference mode: tracking, lost).
    """

    box_xywh: np.ndarray
    score: float
    success: bool
    branch: str = ""


@dataclass(frozen=True)
class Classification:
    """One frame's classifier evidence, kept so the policy and the memory reuse one crop."""

    samples: np.ndarray  # (N, 4) candidate boxes
    feats: torch.Tensor  # (N, D) their pooled features
    top: np.ndarray  # indices of the top_k candidates
    score: float  # mean logit of the top_k (reference 7)
    box: np.ndarray  # mean of the top_k boxes
    fmap: torch.Tensor  # the scene crop's feature map
    scene: np.ndarray  # the scene crop's region in the image (x, y, w, h)
    target_wh: np.ndarray  # the target size the crop was scaled for


class ReferencePolicy:
    """The paper's frame step: success = top-5 mean logit > threshold, box from reference 8.

    With ``box_refiner`` set, NanoTrack's head refines the box near the classifier's choice.
    """

    def __init__(self, tracker: Tracker) -> None:
        self._t = tracker

    def init(self, image: np.ndarray, box: np.ndarray) -> None:
        """Nothing beyond the tracker's own first-frame training (and the refiner's template)."""

    def step(self, image: np.ndarray) -> TrackResult:
        """One frame of RT-MDNet."""
        t = self._t
        c = t.classify(image)
        success = c.score > t.options.rtmdnet.success_threshold
        target = result = c.box
        refined = t._refine(image, target) if success and t._refiner is not None else None
        if refined is not None:
            # The refined box is reported and is also the next frame's search box.
            result = target = refined
        elif success:
            regressed = t.regress(image, c)
            result = result if regressed is None else regressed
        t.conclude(image, c, target, success, learn=True)
        return TrackResult(np.asarray(result, dtype=np.float64), c.score, bool(success),
                           "tracking" if success else "lost")


class Tracker:
    """Single-object RT-MDNet tracker (see docs/tracker.md for the defaults and deviations).

    A tracker's options are fixed when it is built (``options`` is read-only): every part that
    depends on them (network pooling, threads, learner, regressor) is set up from one value, so
    a change can never reach some parts and not others. To track with other options, build
    another tracker. Its options are, in this one order:

    1. ``options`` when given: a complete ``TrackerOptions``, used as it is;
    2. else the options stored in the model file whose network is used (packaged or given),
       over the reference defaults; no model file: the defaults;
    3. then ``overrides`` (plain values, as ``--set`` and node parameters give them) on top.

    With ``model=None`` the packaged model is used unless ``options``/``overrides`` ask for
    another architecture (backbone, cut, dense map): that one is then built untrained.
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
        LOG.info("RT-MDNet tracker on %s", self.device)
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % (2**63))
            LOG.info("no seed given; using %d (pass seed= to reproduce)", seed)
        self.seed = int(seed)
        self.net, self._options = self._load_network(model, options)
        if self.options.execution.torch_threads > 0:
            onnx_runtime.set_frame_threads(self.options.execution.torch_threads)
        for p in self._backbone_params():
            p.requires_grad_(False)
        self.net.eval()
        # The backbone's runtime, chosen once (backbone_runtime.choose_runtime); the session
        # follows the threads set just above.
        self.runtime = choose_runtime(self.options.execution.runtime, self.device)
        self._onnx_backbone = OnnxFeatureMap(self.net) if self.runtime == "onnxruntime" else None
        LOG.info("backbone runtime: %s", self.runtime)
        # The untrained default head is drawn from our seed; a trained fc4/fc5 is restored at
        # every init so re-initialising on a new target starts from the same weights.
        self._head_state = {k: v.detach().clone() for k, v in head_parameters(self.net).items()}
        self.timings: dict[str, float] = dict.fromkeys(TIMING_STAGES, 0.0)
        self.counters: dict[str, int] = {"frames": 0, "short_updates": 0, "long_updates": 0,
                                         "recovery_frames": 0}
        self._initialised = False
        self._updater: AsyncHeadUpdater | None = None
        self._refiner = self._load_refiner() if self.options.mode == "reference" else None
        self._policy = self._make_policy()

    # ------------------------------------------------------------------ network plumbing ------
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

    def _load_network(self, model: Any, options: TrackerOptions | None):
        """Return (network, effective options), layered as the class docstring says."""
        from .network import RTMDNet

        stored: dict[str, Any] = {}  # the tracker options the model file carries
        self._model_regressor: dict[str, torch.Tensor] = {}  # offline box regressor, if any
        self._warned_no_regressor = False
        # Whether fc4/fc5 come trained (a model file or a caller's network) or are drawn at random.
        self.head_pretrained = True
        if isinstance(model, str) and model == UNTRAINED:
            model = None
        elif model is None and DEFAULT_MODEL.exists():
            from . import model_file as mf

            packaged = mf.load_model(DEFAULT_MODEL, self.device)
            # A caller who asks for another architecture than the packaged model's gets that one
            # untrained rather than silently the packaged one.
            wanted = _requested_architecture(options, self._overrides)
            if wanted is None or wanted == _architecture(packaged):
                LOG.info("using the packaged model %s", DEFAULT_MODEL)
                model = packaged
        if isinstance(model, RTMDNet):
            net = model.to(self.device)
        elif model is None:
            self.head_pretrained = False
            arch = (options or TrackerOptions()).with_overrides(self._overrides).network
            LOG.info("no trained model for %s: its backbone + a seeded random head", arch.backbone)
            gen = torch.Generator().manual_seed(self.seed)
            net = RTMDNet(backbone=arch.backbone, num_domains=1, roi_mode=arch.roi_mode,
                          dense=arch.dense_map, cut=arch.backbone_cut, generator=gen)
            net = net.to(self.device)
        else:
            from . import model_file as mf

            if isinstance(model, (str, Path)):
                model = mf.load_model(model, self.device)
            elif not isinstance(model, mf.ModelFile):
                raise ValueError(
                    f"model must be a path, a ModelFile, an RTMDNet, None or {UNTRAINED!r}, "
                    f"got {type(model)!r}"
                )
            net = mf.build_network(
                model, self.device, generator=torch.Generator().manual_seed(self.seed)
            )
            self._model_regressor = dict(model.bbox_regressor)
            stored = dict(getattr(model, "tracker_options", None) or {})
        if options is None:
            options = TrackerOptions.from_dict(stored, strict=False)
        options = options.with_overrides(self._overrides)
        roi_mode = options.network.roi_mode
        if getattr(net, "roi_mode", roi_mode) != roi_mode:
            net.roi_mode = roi_mode
        return net, options

    def _backbone_params(self):
        return [p for n, p in self.net.named_parameters() if n.startswith("backbone")]

    @contextmanager
    def _timed(self, stage: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            self.timings[stage] += time.perf_counter() - start

    # ------------------------------------------------------------------ features -------------
    def _feature_map(self, image: np.ndarray, scene: np.ndarray, out_wh) -> torch.Tensor:
        with self._timed("crop"):
            crop = crop_scene(image, scene, out_wh)
        return self._backbone_map([crop])

    def _backbone_map(self, crops: list[np.ndarray]) -> torch.Tensor:
        """Feature maps of same-size HxWx3 float crops, by the runtime chosen at construction."""
        if self._onnx_backbone is not None:
            with self._timed("crop"):
                x = np.ascontiguousarray(np.stack(crops).transpose(0, 3, 1, 2), dtype=np.float32)
            with self._timed("backbone"):
                return self._onnx_backbone(x)
        with self._timed("crop"):
            x = to_tensor(crops, self.device)
        with self._timed("backbone"), torch.no_grad():
            return self.net.feature_map(x)

    def _pool(self, fmap: torch.Tensor, rois: np.ndarray, batch_idx=None) -> torch.Tensor:
        """Pool RoIs in chunks: RoI pooling's temporaries grow with N x C x 49 x 4 taps."""
        chunk = self.options.execution.roi_chunk
        with self._timed("roi"), torch.no_grad():
            idx = np.zeros((len(rois), 1)) if batch_idx is None else batch_idx[:, None]
            r = torch.as_tensor(np.concatenate([idx, rois], axis=1), dtype=torch.float32)
            r = r.to(self.device)
            if len(r) <= chunk:
                return self.net.pool_rois(fmap, r)
            return torch.cat(
                [self.net.pool_rois(fmap, r[i : i + chunk]) for i in range(0, len(r), chunk)]
            )

    def _sample_features(
        self,
        image: np.ndarray,
        sample_sets: list[np.ndarray],
        target_wh: np.ndarray,
        jitter=((0.0, 0.0, 1.0),),
        keep: list[int] | None = None,
    ) -> list[tuple[torch.Tensor, np.ndarray]]:
        """RoI features of several sample sets, pooled from one scene crop per jitter entry.

        Reference 5 pools every sample from every jitter crop and then keeps a random subset.
        Drawing the (crop, sample) pairs first and pooling only those gives the same
        distribution for a fraction of the RoI work (7x less with seven crops). ``keep[i]``
        bounds how many rows set ``i`` returns (None = all pairs). Returns per set the
        features and the matching sample boxes.
        """
        geo = self.options.network
        n_jit = len(jitter)
        chosen: list[np.ndarray] = []  # per set: flat indices crop * n + sample
        for i, s in enumerate(sample_sets):
            total = n_jit * len(s)
            k = total if keep is None or keep[i] is None else min(total, keep[i])
            idx = np.arange(total) if k == total else self._rng.choice(total, k, replace=False)
            chosen.append(np.sort(idx))
        allsamples = np.concatenate([s for s in sample_sets if len(s)], axis=0)
        scene = scene_box(allsamples, geo.padding)
        feats: list[list[torch.Tensor]] = [[] for _ in sample_sets]
        boxes: list[list[np.ndarray]] = [[] for _ in sample_sets]
        for j, (box, scale) in enumerate(jitter_scene_boxes(scene, jitter)):
            picks = [c[(c // max(len(s), 1)) == j] % max(len(s), 1)
                     for c, s in zip(chosen, sample_sets, strict=True)]
            if not any(len(p) for p in picks):
                continue
            subset = np.concatenate(
                [s[p] for s, p in zip(sample_sets, picks, strict=True)], axis=0
            )
            out_wh = crop_size(box[2:], target_wh, geo.img_size, scale)
            fmap = self._feature_map(image, box, out_wh)
            rois = samples_to_rois(
                subset, box[:2], target_wh, geo.img_size * scale, geo.padding, self.net.rf_offset
            )
            pooled = self._pool(fmap, rois)
            start = 0
            for i, (s, p) in enumerate(zip(sample_sets, picks, strict=True)):
                feats[i].append(pooled[start : start + len(p)])
                boxes[i].append(s[p])
                start += len(p)
        dim = self.net.feature_dim
        return [
            (
                torch.cat(f, 0) if f else torch.zeros((0, dim), device=self.device),
                np.concatenate(b, 0) if b else np.zeros((0, 4)),
            )
            for f, b in zip(feats, boxes, strict=True)
        ]

    # ------------------------------------------------------------------ public API -----------
    def init(self, image: np.ndarray, box_xywh) -> None:
        """Learn the target from the first frame (reference 5)."""
        start = time.perf_counter()
        image = check_image(image)
        h, w = image.shape[:2]
        target = validate_box(box_xywh, w, h)
        r, execution = self.options.rtmdnet, self.options.execution
        self._initialised = False  # a failed init must not leave a half-reset tracker usable
        # A regressor per target: nothing of the previous target's fit may survive a new init.
        self.bbreg = BBoxRegressor(r.bbreg_alpha, r.bbreg_accept_iou, r.bbreg_accept_area)
        offline = self._offline_regressor()
        if offline is not None:
            self.bbreg.set_prior(offline["weight"], offline["bias"])
        fit_first_frame = r.bbox_regression and (
            offline is None or r.bbreg_source == "offline+first_frame"
        )
        self.close()  # an update of the previous target must not land on this one
        self._rng = np.random.default_rng(self.seed)
        self._torch_gen = torch.Generator().manual_seed(self.seed)
        self._learner = HeadTrainer(self.net, r, self._rng, self.device)
        self._restore_head()
        img_wh = (w, h)

        pos = gen_samples(
            SampleGenerator("gaussian", img_wh, r.init_pos_trans, r.init_pos_scale,
                            min_size=r.min_box_size),
            target, r.n_pos_init, self._rng, (r.init_pos_iou, 1.0),
        )
        neg = gen_samples(
            SampleGenerator("uniform", img_wh, r.init_neg_trans, r.init_neg_scale,
                            r.init_neg_aspect, min_size=r.min_box_size),
            target, r.n_neg_init, self._rng, (0.0, r.init_neg_iou),
        )
        sets = [pos, neg]
        if fit_first_frame:
            sets.append(
                gen_samples(
                    SampleGenerator("uniform", img_wh, r.bbreg_trans, r.bbreg_scale,
                                    r.bbreg_aspect, min_size=r.min_box_size),
                    target, r.n_bbreg, self._rng, (r.bbreg_iou, 1.0), r.bbreg_area,
                )
            )
        if len(pos) == 0 or len(neg) == 0:
            raise ValueError(
                f"cannot draw training samples around box {target.tolist()} in a {w}x{h} image"
            )
        keep = [r.n_pos_init, r.n_neg_init, r.n_bbreg][: len(sets)]
        feats = self._sample_features(image, sets, target[2:], r.jitter, keep)
        pos_f, neg_f = feats[0][0], feats[1][0]
        if r.first_frame_augmentation:
            aug_pos, aug_neg, aug_bb, aug_bb_boxes = self._augmentation_features(image, target)
            pos_f = torch.cat([pos_f, aug_pos])
            neg_f = torch.cat([neg_f, aug_neg])
            pos_f = pos_f[self._subsample(len(pos_f), r.n_pos_init)]
            neg_f = neg_f[self._subsample(len(neg_f), r.n_neg_init)]

        # Reference 5's rate assumes pretrained fc4/fc5; a random head barely moves at 1e-4.
        lr_init = r.lr_init * (1.0 if self.head_pretrained else r.untrained_head_lr_mult)
        self._init_optimizer = self._learner.optimizer(lr_init)
        self._learner.train(self._init_optimizer, pos_f, neg_f, r.init_iterations)

        if fit_first_frame:
            with self._timed("bbreg"):
                bb_f, bb_boxes = feats[2]
                if r.first_frame_augmentation and len(aug_bb):
                    bb_f = torch.cat([bb_f, aug_bb])
                    bb_boxes = np.concatenate([bb_boxes, aug_bb_boxes])
                    sel = self._subsample(len(bb_f), r.n_bbreg)
                    bb_f, bb_boxes = bb_f[sel], bb_boxes[sel.numpy()]
                self.bbreg.fit(bb_f, bb_boxes, target)

        self._pos_memory: deque[torch.Tensor] = deque(maxlen=r.pos_memory_frames)
        self._neg_memory: deque[torch.Tensor] = deque(maxlen=r.neg_memory_frames)
        self._pos_memory.append(pos_f[self._subsample(len(pos_f), r.n_pos_memory_seed)])
        self._neg_memory.append(neg_f[self._subsample(len(neg_f), r.n_neg_memory_seed)])
        if execution.update_mode == "async":
            # Its own generator, drawn from ours: the frame loop's draws stay the same.
            worker_rng = np.random.default_rng(int(self._rng.integers(2**62)))
            self._updater = AsyncHeadUpdater(
                self.net, r, worker_rng, self.device, r.lr_update, self.counters,
                nice=execution.update_worker_nice,
            )
        else:
            self._update_optimizer = self._learner.optimizer(r.lr_update)
        if self._refiner is not None:
            with self._timed("refine"):
                self._refiner.set_template(image, target)
        self._target = target.copy()
        self._trans = r.cand_trans
        self._failures = 0  # consecutive failed frames (recovery_after)
        self._last_seen = self._target[:2] + self._target[2:] / 2.0  # centre, last success
        self._frame = 0
        self._last_short = -(10**9)
        self._policy.init(image, self._target.copy())
        self._initialised = True
        self.timings["init"] += time.perf_counter() - start

    def update(self, image: np.ndarray) -> TrackResult:
        """Track one frame and return its box, score and the one TRACKING/LOST decision."""
        if not getattr(self, "_initialised", False):
            raise ValueError("update() called before init(): give the first frame and box first")
        image = check_image(image)
        self._frame += 1
        self.counters["frames"] += 1
        if self._updater is not None:
            self._swap_in_updated_head()
        return self._policy.step(image)

    # ------------------------------------------------------------------ frame steps ----------
    def classify(self, image: np.ndarray) -> Classification:
        """Score this frame's candidates around the current target (reference 7)."""
        geo = self.options.network
        img_wh = (image.shape[1], image.shape[0])
        target_wh = self._target[2:].copy()
        samples = self._candidates(img_wh, target_wh)
        scene = scene_box(samples, geo.padding)
        fmap = self._feature_map(image, scene, crop_size(scene[2:], target_wh, geo.img_size))
        rois = samples_to_rois(samples, scene[:2], target_wh, geo.img_size, geo.padding,
                               self.net.rf_offset)
        feats = self._pool(fmap, rois)
        with self._timed("head"):
            scores = self._learner.scores(feats)
            top = torch.topk(scores, self.options.rtmdnet.top_k).indices.cpu().numpy()
            score = float(scores[top].mean())
        return Classification(samples, feats, top, score, samples[top].mean(axis=0), fmap, scene,
                              target_wh)

    def score_boxes(self, image: np.ndarray, c: Classification, boxes: np.ndarray
                    ) -> np.ndarray:
        """Return the classifier's logit for each box (N, 4): one box, one RoI, one score.

        Boxes mostly inside this frame's scene crop are pooled from its feature map; the others
        from one more crop around them at the target's scale, so a far box costs one small
        backbone pass instead of a crop spanning both.
        """
        geo = self.options.network
        boxes = np.atleast_2d(np.asarray(boxes, dtype=np.float64))
        out = np.zeros(len(boxes))
        if not len(boxes):
            return out
        min_inside = self.options.rtmdnet.reuse_min_inside
        inside = fraction_inside(pad_boxes(boxes, geo.padding), c.scene) >= min_inside
        groups = [(inside, c.fmap, c.scene)]
        if (~inside).any():
            scene = scene_box(boxes[~inside], geo.padding)
            out_wh = crop_size(scene[2:], c.target_wh, geo.img_size)
            fmap = self._feature_map(image, scene, out_wh)
            groups.append((~inside, fmap, scene))
        for mask, fmap, scene in groups:
            if not mask.any():
                continue
            rois = samples_to_rois(boxes[mask], scene[:2], c.target_wh, geo.img_size,
                                   geo.padding, self.net.rf_offset)
            with self._timed("head"):
                out[mask] = self._learner.scores(self._pool(fmap, rois)).cpu().numpy()
        return out

    def regress(self, image: np.ndarray, c: Classification) -> np.ndarray | None:
        """Return reference 8's box for the top candidates, or None when it is not fitted."""
        if not (self.options.rtmdnet.bbox_regression and self.bbreg.fitted):
            return None
        with self._timed("bbreg"):
            img_wh = (image.shape[1], image.shape[0])
            top = c.top
            return self.bbreg.predict(c.feats[torch.as_tensor(top)], c.samples[top],
                                      img_wh).mean(axis=0)

    def conclude(self, image: np.ndarray, c: Classification, target: np.ndarray,
                 success: bool, learn: bool) -> None:
        """Close the frame: the next search box, the search width, the memories and updates.

        ``target`` is where the next frame's candidates are drawn; ``success`` widens the search
        when False and picks the update kind (reference 7); ``learn`` says whether this frame's
        samples may enter the memory (the composite's update gate; the reference learns on
        every success).
        """
        r = self.options.rtmdnet
        self._trans = r.cand_trans if success else r.cand_trans_failure
        self._failures = 0 if success else self._failures + 1
        if success:
            self._last_seen = target[:2] + target[2:] / 2.0
        self._target = np.asarray(target, dtype=np.float64)
        if success and learn:
            self._collect(image, self._target, c.fmap, c.scene, c.target_wh)
        with self._timed("update"):
            if not success:
                if self._frame - self._last_short >= r.short_term_interval:
                    n = min(r.short_term_frames, len(self._pos_memory))
                    self._update(list(self._pos_memory)[-n:] if n else [], "short_updates")
                    self._last_short = self._frame
            elif self._frame % r.long_term_interval == 0:
                self._update(list(self._pos_memory), "long_updates")

    def _recovery_centre(self, img_wh: tuple[int, int]) -> np.ndarray | None:
        """Return the recovery tile centre for this frame while the sweep runs, else None."""
        rec = self.options.recovery
        lost_for = self._failures - rec.after
        if not rec.after or lost_for < 0:
            return None
        tiles = covering_tiles(img_wh, self._recovery_reach(self._target[2:]), self._last_seen)
        return tiles[lost_for % len(tiles)]

    def _recovery_reach(self, target_wh: np.ndarray) -> np.ndarray:
        """Half-size per axis of one recovery tile: one crop of recovery_max_crop px."""
        geo = self.options.network
        crop = self.options.recovery.max_crop
        return np.maximum((crop / geo.img_size - geo.padding) * target_wh / 2.0,
                          target_wh / 2.0)


    # ------------------------------------------------------------------ internals ------------
    def _candidates(self, img_wh: tuple[int, int], target_wh: np.ndarray) -> np.ndarray:
        """Draw this frame's candidates: reference 4, or one tile of the recovery sweep.

        A lost target may be anywhere in the frame, but one crop of the whole frame at the
        target's scale (img_size px per target) is far too large for small targets (a 17 px wide
        person in a 640 px frame: a 4000 px crop). So after recovery_after failed frames, each
        frame searches one tile: the area one crop of recovery_max_crop px covers, with
        candidates uniform in it; the tiles cover the frame and are visited nearest the last
        box first, so a whole-frame sweep costs a bounded crop per frame.
        """
        r = self.options.rtmdnet
        centre = self._recovery_centre(img_wh)
        if centre is None:
            gen = SampleGenerator("gaussian", img_wh, self._trans, r.cand_scale, valid=True,
                                  min_size=r.min_box_size)
            return gen(self._target, r.n_candidates, self._rng)
        self.counters["recovery_frames"] += 1
        # Candidate centres may range over the crop minus one padded target per axis.
        reach = self._recovery_reach(target_wh)
        n = self.options.recovery.candidates
        cxcy = centre + self._rng.uniform(-1.0, 1.0, size=(n, 2)) * reach
        wh = target_wh * r.cand_scale ** self._rng.uniform(-1.0, 1.0, size=(n, 1))
        img = np.asarray(img_wh, dtype=np.float64)
        wh = np.clip(wh, r.min_box_size, np.maximum(img - r.min_box_size, r.min_box_size))
        cxcy = np.clip(cxcy, wh / 2.0, img - wh / 2.0)
        return np.concatenate([cxcy - wh / 2.0, wh], axis=1)

    def _collect(self, image, target, fmap, scene, target_wh) -> None:
        """Store 50 positives / 200 negatives of a successful frame (reference 7.4)."""
        r, geo = self.options.rtmdnet, self.options.network
        img_wh = (image.shape[1], image.shape[0])
        accept = None
        if r.reuse_candidate_crop:

            def accept(boxes: np.ndarray) -> np.ndarray:
                return fraction_inside(pad_boxes(boxes, geo.padding), scene) >= r.reuse_min_inside

        pos = gen_samples(
            SampleGenerator("gaussian", img_wh, r.update_pos_trans, r.update_pos_scale,
                            min_size=r.min_box_size),
            target, r.n_pos_update, self._rng, (r.update_pos_iou, 1.0), accept=accept,
        )
        neg = gen_samples(
            SampleGenerator("uniform", img_wh, r.update_neg_trans, r.update_neg_scale,
                            min_size=r.min_box_size),
            target, r.n_neg_update, self._rng, (0.0, r.update_neg_iou), accept=accept,
        )
        if len(pos) == 0 or len(neg) == 0:
            return
        if r.reuse_candidate_crop:
            both = np.concatenate([pos, neg])
            rois = samples_to_rois(both, scene[:2], target_wh, geo.img_size, geo.padding,
                                   self.net.rf_offset)
            feats = self._pool(fmap, rois)
            pos_f, neg_f = feats[: len(pos)], feats[len(pos) :]
        else:
            (pos_f, _), (neg_f, _) = self._sample_features(image, [pos, neg], target[2:])
        self._pos_memory.append(pos_f)
        self._neg_memory.append(neg_f)

    def _update(self, pos: list[torch.Tensor], counter: str) -> None:
        """Online update on these positive blocks and the negative memory (reference 7)."""
        if not pos or len(self._neg_memory) == 0:
            return
        if self._updater is not None:
            self._updater.submit(pos, list(self._neg_memory), counter)
            return
        self._learner.train(
            self._update_optimizer, torch.cat(pos), torch.cat(list(self._neg_memory)),
            self.options.rtmdnet.update_iterations,
        )
        self.counters[counter] += 1

    def _make_policy(self) -> Any:
        """Build the frame step the options ask for: the paper's, or the composite's."""
        if self.options.mode == "composite":
            from .composite.policy import CompositePolicy

            return CompositePolicy(self)
        return ReferencePolicy(self)

    def _load_refiner(self):
        """Load the refiner the options ask for (None: "none", or "auto" without its files)."""
        ref = self.options.refiner
        if ref.kind == "none":
            return None
        from .siamese_refiner import RefinerSettings, SiameseRefiner

        try:
            refiner = SiameseRefiner(
                ref.dir,
                RefinerSettings(size_calibration=ref.size_calibration),
            )
        except FileNotFoundError as exc:
            if ref.kind == "nanotrack_v3":
                raise ValueError(f"box_refiner=nanotrack_v3: {exc}") from exc
            LOG.warning("box_refiner=auto: %s; tracking without box refinement (RT-MDNet's box, "
                        "which shrinks on small targets)", exc)
            return None
        LOG.info("box refinement: NanoTrack v3 Siamese head from %s", refiner.backbone_path.parent)
        return refiner

    @property
    def box_refinement(self) -> bool:
        """Whether the Siamese box refiner runs (box_refiner=auto depends on its files)."""
        return self._refiner is not None

    def _refine(self, image: np.ndarray, target: np.ndarray) -> np.ndarray | None:
        """Return the Siamese refiner's box for the classifier's own box (None: it declines).

        It starts from the top-k mean, not from the regressed box: a regression bias fed back
        through the search box would compound frame after frame (docs/tracker.md).
        """
        with self._timed("refine"):
            refined, score, details = self._refiner.refine(image, target)
        if not details["accepted"]:
            # A high probability elsewhere in the window while the eligible cells stay low is
            # a look-alike nearby, which the refiner leaves to the classifier by design.
            LOG.debug("refiner kept the classifier's box: %s (best eligible %.2f, window %.2f)",
                      details["reason"], score, details["max_score"])
            return None
        box = clip_box(refined, image.shape[1], image.shape[0])
        return box if box[2] >= 1.0 and box[3] >= 1.0 else None

    def _offline_regressor(self) -> dict[str, torch.Tensor] | None:
        """Return the model's offline box regressor if the options ask for it, else None."""
        r = self.options.rtmdnet
        if r.bbreg_source == "first_frame" or not r.bbox_regression:
            return None
        if not self._model_regressor:
            if not self._warned_no_regressor:
                LOG.warning("bbreg_source=%s but the model has no offline box regressor: "
                            "fitting on the first frame only", r.bbreg_source)
                self._warned_no_regressor = True
            return None
        return self._model_regressor

    def _swap_in_updated_head(self) -> None:
        """Load the worker's newest head weights, between two frames (async mode)."""
        weights = self._updater.take()
        if weights is None:
            return
        with torch.no_grad():
            for name, p in head_parameters(self.net).items():
                p.copy_(weights[name])

    def wait_for_updates(self, timeout: float = 10.0) -> bool:
        """Block until a running online update has finished (async mode; no-op otherwise).

        For tests and offline tools that want every update applied; a live node never calls it.
        """
        return self._updater.wait_idle(timeout) if self._updater is not None else True

    def close(self) -> None:
        """Stop the online-update worker, if any; the tracker then needs a new ``init``."""
        self._initialised = False
        updater, self._updater = getattr(self, "_updater", None), None
        if updater is not None:
            updater.close()

    def _subsample(self, n: int, k: int) -> torch.Tensor:
        """Random subset of k indices out of n (all of them, shuffled, if n <= k)."""
        idx = self._rng.permutation(n)[: min(n, k)]
        return torch.as_tensor(idx, dtype=torch.long)

    def _restore_head(self) -> None:
        with torch.no_grad():
            named = head_parameters(self.net)
            for name, value in self._head_state.items():
                if not is_branch(name) and name in named:
                    named[name].copy_(value)
        if hasattr(self.net, "reset_domains"):
            self.net.reset_domains(1, self._torch_gen)
            self.net.to(self.device)
        for p in head_parameters(self.net).values():
            p.requires_grad_(True)

    def _augmentation_features(self, image: np.ndarray, target: np.ndarray):
        """Pool features from the authors' extra first-frame crops (reference 5), batched.

        Each crop is centred on the target (shifted a few px), target * 1.8 * 1.1^k in size and
        rendered at a fixed size; pos/neg/bbreg samples are pooled from it.
        """
        r, padding = self.options.rtmdnet, self.options.network.padding
        h, w = image.shape[:2]
        img_wh = (w, h)
        size = r.aug_crop_size
        crops, pos_r, neg_r, bb_r, bb_boxes = [], [], [], [], []
        centre = target[:2] + target[2:] / 2.0
        pos_gen = SampleGenerator("gaussian", img_wh, r.init_pos_trans, r.init_pos_scale,
                                  min_size=r.min_box_size)
        neg_gen = SampleGenerator("uniform", img_wh, r.aug_neg_trans, r.aug_neg_scale,
                                  r.aug_neg_aspect, min_size=r.min_box_size)
        bb_gen = SampleGenerator("uniform", img_wh, r.bbreg_trans, r.bbreg_scale, r.bbreg_aspect,
                                 min_size=r.min_box_size)
        for i in range(r.aug_crops):
            k = np.clip(self._rng.standard_normal(), -r.aug_scale_clip, r.aug_scale_clip)
            shift = np.clip(r.aug_shift_std * self._rng.standard_normal(2),
                            -r.aug_shift_clip, r.aug_shift_clip)
            wh = target[2:] * r.aug_context * r.aug_scale_base**k
            box = np.concatenate([centre + shift - wh / 2.0, wh])
            with self._timed("crop"):
                crops.append(crop_scene(image, box, (size, size)))

            def rois_of(samples, box=box, wh=wh, i=i):
                rois = samples_to_rois(samples, box[:2], wh, size, padding, self.net.rf_offset)
                return np.concatenate([np.full((len(rois), 1), i), rois], axis=1)

            pos_r.append(rois_of(gen_samples(pos_gen, target, r.aug_pos_per_crop, self._rng,
                                             (r.init_pos_iou, 1.0))))
            neg_r.append(rois_of(gen_samples(neg_gen, target, r.aug_neg_per_crop, self._rng,
                                             (0.0, r.aug_neg_iou))))
            if r.bbox_regression:
                bb = gen_samples(bb_gen, target, r.aug_bbreg_per_crop, self._rng,
                                 (r.bbreg_iou, 1.0), r.bbreg_area)
                bb_r.append(rois_of(bb))
                bb_boxes.append(bb)
        pos_l, neg_l, bb_l = [], [], []
        batch = 25
        for b0 in range(0, len(crops), batch):
            fmap = self._backbone_map(crops[b0 : b0 + batch])
            for src, dst in ((pos_r, pos_l), (neg_r, neg_l), (bb_r, bb_l)):
                if not src:
                    continue
                r = np.concatenate(src[b0 : b0 + batch])
                r[:, 0] -= b0
                dst.append(self._pool(fmap, r[:, 1:], r[:, 0]))
        empty = torch.zeros((0, self.net.feature_dim), device=self.device)
        bb_all = np.concatenate(bb_boxes) if bb_boxes else np.zeros((0, 4))
        return (
            torch.cat(pos_l) if pos_l else empty,
            torch.cat(neg_l) if neg_l else empty,
            torch.cat(bb_l) if bb_l else empty,
            bb_all,
        )


ARCHITECTURE_OPTIONS = ("backbone", "backbone_cut", "dense_map")


def _requested_architecture(
    options: TrackerOptions | None, overrides: dict[str, Any]
) -> tuple[str, str | None, bool] | None:
    """Return the architecture a caller asked for, or None when it asked for none."""
    asked = {k: overrides[k] for k in ARCHITECTURE_OPTIONS if k in overrides}
    if options is None and not asked:
        return None
    return _architecture((options or TrackerOptions()).with_overrides(asked))


def _architecture(source: Any) -> tuple[str, str | None, bool]:
    """(backbone, EfficientNet cut, dense) of options or a model file: what the weights fit.

    RoI pooling is left out on purpose: a trained head runs with any of the three poolings.
    """
    if isinstance(source, TrackerOptions):
        net = source.network
        backbone, cut, dense = net.backbone, net.backbone_cut, net.dense_map
    else:
        opts = source.backbone_options
        backbone = source.backbone
        cut, dense = opts.get("cut", DEFAULT_EFFNET_CUT), bool(opts.get("dense", True))
    return backbone, (cut if backbone == "efficientnet_lite0" else None), dense
