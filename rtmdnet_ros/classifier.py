# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""RT-MDNet's online classifier as one part: it learns the target and judges boxes.

Its interface is what a frame policy needs and nothing more: ``init`` (first-frame training,
reference 5), ``classify`` (reference 7's candidates and their scores), ``score_boxes`` (any
boxes, one logit each), ``regress`` (reference 8's box), and ``conclude`` (the next search box,
the memory and the online updates). The fc head is fine-tuned on cached RoI features, so
training never runs the backbone. All randomness comes from generators re-seeded at every
``init``, so the same seed and input give the same boxes on CPU.
"""

from __future__ import annotations

import logging
import threading
from collections import deque

import numpy as np
import torch

from .bbox_regression import BBoxRegressor
from .features import FeatureExtractor
from .first_frame import augmentation_features, draw_samples
from .geometry import fraction_inside, pad_boxes, scene_box
from .network import RTMDNet
from .online_learning import AsyncHeadUpdater, HeadTrainer, head_parameters, is_branch
from .options import TrackerOptions
from .sampling import SampleGenerator, gen_samples
from .search_area import SearchArea
from .track_types import Classification, Meter

LOG = logging.getLogger(__name__)


class TrainingCancelled(Exception):
    """A first-frame training stopped by its ``cancel`` event (not a failure)."""


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise TrainingCancelled


class OnlineClassifier:
    """The target/background classifier of one track, with its memory and search area."""

    def __init__(self, net: RTMDNet, options: TrackerOptions, device: torch.device, seed: int,
                 meter: Meter, *, head_pretrained: bool = True,
                 regressor: dict[str, torch.Tensor] | None = None) -> None:
        self.net = net
        self._options = options
        self._device = device
        self._seed = seed
        self._meter = meter
        self._head_pretrained = head_pretrained
        self._regressor_prior = dict(regressor or {})
        self._warned_no_regressor = False
        self.features = FeatureExtractor(net, options, device, meter)
        # The untrained default head is drawn from the seed; a trained fc4/fc5 is restored at
        # every init so re-initialising on a new target starts from the same weights.
        self._head_state = {k: v.detach().clone() for k, v in head_parameters(net).items()}
        self._updater: AsyncHeadUpdater | None = None
        self._rng = np.random.default_rng(seed)
        self.search: SearchArea | None = None

    # ------------------------------------------------------------------ first frame ----------
    def init(self, image: np.ndarray, target: np.ndarray,
             cancel: threading.Event | None = None) -> None:
        """Learn the target from the first frame (reference 5); ``target`` is a checked box.

        ``cancel`` (a training in the background) stops it between two steps with
        :class:`TrainingCancelled`, the classifier left not ready: a shutdown or a newer init
        must not wait for a target nobody tracks any more.
        """
        r, execution = self._options.rtmdnet, self._options.execution
        self.forget()  # a failed init must not leave a half-reset classifier usable
        # A regressor per target: nothing of the previous target's fit may survive a new init.
        self.bbreg = BBoxRegressor(r.bbreg_alpha, r.bbreg_accept_iou, r.bbreg_accept_area)
        offline = self._offline_regressor()
        if offline is not None:
            self.bbreg.set_prior(offline["weight"], offline["bias"])
        fit_first_frame = r.bbox_regression and (
            offline is None or r.bbreg_source == "offline+first_frame"
        )
        self.close()  # an update of the previous target must not land on this one
        self._rng = np.random.default_rng(self._seed)
        torch_gen = torch.Generator().manual_seed(self._seed)
        self._learner = HeadTrainer(self.net, r, self._rng, self._device)
        self._restore_head(torch_gen)
        img_wh = (image.shape[1], image.shape[0])

        sets = draw_samples(target, img_wh, r, self._rng, fit_first_frame)
        keep = [r.n_pos_init, r.n_neg_init, r.n_bbreg][: len(sets)]
        feats = self.features.sample_features(image, sets, target[2:], self._rng, r.jitter, keep)
        pos_f, neg_f = feats[0][0], feats[1][0]
        _check(cancel)
        if r.first_frame_augmentation:
            aug_pos, aug_neg, aug_bb, aug_bb_boxes = augmentation_features(
                self.features, image, target, r, self._rng, self._meter)
            pos_f = torch.cat([pos_f, aug_pos])
            neg_f = torch.cat([neg_f, aug_neg])
            pos_f = pos_f[self._subsample(len(pos_f), r.n_pos_init)]
            neg_f = neg_f[self._subsample(len(neg_f), r.n_neg_init)]

        # Reference 5's rate assumes pretrained fc4/fc5; a random head barely moves at 1e-4.
        lr_init = r.lr_init * (1.0 if self._head_pretrained else r.untrained_head_lr_mult)
        self.init_optimizer = self._learner.optimizer(lr_init)
        _check(cancel)
        self._learner.train(self.init_optimizer, pos_f, neg_f, r.init_iterations, cancel)
        _check(cancel)

        if fit_first_frame:
            with self._meter.timed("bbreg"):
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
                self.net, r, worker_rng, self._device, r.lr_update, self._meter.counters,
                nice=execution.update_worker_nice,
            )
        else:
            self._update_optimizer = self._learner.optimizer(r.lr_update)
        self._frame = 0
        self._last_short = -(10**9)
        self._collected = 0  # frames whose samples entered the memories
        self._collected_at_short = -1  # that count at the last short-term update
        self.search = SearchArea(self._options, target, self._meter)

    def forget(self) -> None:
        """Drop the target: not ready until the next ``init`` has learnt one."""
        self.search = None

    @property
    def ready(self) -> bool:
        """Whether the classifier has learnt its target (its first frame is done)."""
        return self.search is not None

    # ------------------------------------------------------------------ every frame ----------
    def begin_frame(self) -> None:
        """Start a frame: take the newest head from the update worker (between two frames)."""
        if self.search is None:
            raise ValueError("the classifier has not learnt a target: init() first")
        if self._updater is None:
            return
        weights = self._updater.take()
        if weights is not None:
            with torch.no_grad():
                for name, p in head_parameters(self.net).items():
                    p.copy_(weights[name])

    def classify(self, image: np.ndarray) -> Classification:
        """Score this frame's candidates around the current search box (reference 7)."""
        padding = self._options.network.padding
        img_wh = (image.shape[1], image.shape[0])
        target_wh = self.search.target[2:].copy()
        samples = self.search.candidates(img_wh, self._rng)
        scene = scene_box(samples, padding)
        fmap = self.features.scene_map(image, scene, target_wh)
        feats = self.features.pool(fmap, self.features.rois(samples, scene[:2], target_wh))
        with self._meter.timed("head"):
            scores = self._learner.scores(feats)
            top = torch.topk(scores, self._options.rtmdnet.top_k).indices.cpu().numpy()
            score = float(scores[top].mean())
        return Classification(samples, feats, top, score, samples[top].mean(axis=0), fmap, scene,
                              target_wh)

    def score_boxes(self, image: np.ndarray, c: Classification, boxes: np.ndarray
                    ) -> np.ndarray:
        """Return the classifier's logit for each box (N, 4): one box, one RoI, one score."""
        boxes = np.atleast_2d(np.asarray(boxes, dtype=np.float64))
        out = np.zeros(len(boxes))
        for mask, feats in self._pooled(image, c, boxes):
            with self._meter.timed("head"):
                out[mask] = self._learner.scores(feats).cpu().numpy()
        return out

    def box_features(self, image: np.ndarray, c: Classification, boxes: np.ndarray
                     ) -> torch.Tensor:
        """Return the pooled RoI feature of each box (N, D), as ``score_boxes`` pools them.

        For a head other than the online one (composite/witness.py) to judge the same boxes.
        """
        boxes = np.atleast_2d(np.asarray(boxes, dtype=np.float64))
        out = self.features.empty().new_zeros((len(boxes), self.features.dim))
        for mask, feats in self._pooled(image, c, boxes):
            out[torch.as_tensor(mask)] = feats
        return out

    def _pooled(self, image: np.ndarray, c: Classification, boxes: np.ndarray
                ) -> list[tuple[np.ndarray, torch.Tensor]]:
        """Pool boxes (N, 4) in groups: (mask of the group's boxes, their features).

        Boxes mostly inside this frame's scene crop are pooled from its feature map; the others
        from one more crop around them at the target's scale, so a far box costs one small
        backbone pass instead of a crop spanning both.
        """
        if not len(boxes):
            return []
        padding = self._options.network.padding
        min_inside = self._options.rtmdnet.reuse_min_inside
        inside = fraction_inside(pad_boxes(boxes, padding), c.scene) >= min_inside
        groups = [(inside, c.fmap, c.scene)]
        if (~inside).any():
            scene = scene_box(boxes[~inside], padding)
            groups.append((~inside, self.features.scene_map(image, scene, c.target_wh), scene))
        pooled = []
        for mask, fmap, scene in groups:
            if mask.any():
                rois = self.features.rois(boxes[mask], scene[:2], c.target_wh)
                pooled.append((mask, self.features.pool(fmap, rois)))
        return pooled

    def regress(self, image: np.ndarray, c: Classification) -> np.ndarray | None:
        """Return reference 8's box for the top candidates, or None when it is not fitted."""
        if not (self._options.rtmdnet.bbox_regression and self.bbreg.fitted):
            return None
        with self._meter.timed("bbreg"):
            img_wh = (image.shape[1], image.shape[0])
            return self.bbreg.predict(c.feats[torch.as_tensor(c.top)], c.samples[c.top],
                                      img_wh).mean(axis=0)

    def conclude(self, image: np.ndarray, c: Classification, target: np.ndarray,
                 success: bool, learn: bool) -> None:
        """Close the frame: the next search box, the search width, the memories and updates.

        ``target`` is where the next frame's candidates are drawn; ``success`` widens the search
        when False and picks the update kind (reference 7); ``learn`` says whether this frame's
        samples may enter the memory (the composite's update gate; the reference learns on
        every success).
        """
        r = self._options.rtmdnet
        self._frame += 1  # frames judged: the update intervals count what the classifier saw
        self.search.move(target, success)
        target = self.search.target
        if success and learn:
            self._collect(image, target, c)
        with self._meter.timed("update"):
            if not success:
                stale = self._collected == self._collected_at_short
                wait = (r.short_term_stale_interval if stale and r.short_term_stale_interval
                        else r.short_term_interval)
                if self._frame - self._last_short >= wait:
                    n = min(r.short_term_frames, len(self._pos_memory))
                    self._update(list(self._pos_memory)[-n:] if n else [], "short_updates")
                    self._last_short = self._frame
                    self._collected_at_short = self._collected
            elif self._frame % r.long_term_interval == 0:
                self._update(list(self._pos_memory), "long_updates")

    def follow(self, target: np.ndarray) -> None:
        """Move the next search to ``target`` on a frame the classifier did not judge."""
        self.search.follow(target)

    # ------------------------------------------------------------------ lifetime -------------
    def wait_for_updates(self, timeout: float = 10.0) -> bool:
        """Block until a running online update has finished (async mode; no-op otherwise)."""
        return self._updater.wait_idle(timeout) if self._updater is not None else True

    def close(self) -> None:
        """Stop the online-update worker, if any."""
        updater, self._updater = self._updater, None
        if updater is not None:
            updater.close()

    # ------------------------------------------------------------------ internals ------------
    def _collect(self, image: np.ndarray, target: np.ndarray, c: Classification) -> None:
        """Store positives / negatives of a successful frame (reference 7.4)."""
        r, padding = self._options.rtmdnet, self._options.network.padding
        img_wh = (image.shape[1], image.shape[0])
        accept = None
        if r.reuse_candidate_crop:

            def accept(boxes: np.ndarray) -> np.ndarray:
                return fraction_inside(pad_boxes(boxes, padding), c.scene) >= r.reuse_min_inside

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
            feats = self.features.pool(c.fmap, self.features.rois(both, c.scene[:2], c.target_wh))
            # Copies, not slices: a slice keeps the whole pooled block alive, and the positive
            # memory holds five times as many frames as the negative one.
            pos_f, neg_f = feats[: len(pos)].clone(), feats[len(pos) :].clone()
        else:
            (pos_f, _), (neg_f, _) = self.features.sample_features(image, [pos, neg], target[2:],
                                                                   self._rng)
        self._pos_memory.append(pos_f)
        self._neg_memory.append(neg_f)
        self._collected += 1

    def _update(self, pos: list[torch.Tensor], counter: str) -> None:
        """Online update on these positive blocks and the negative memory (reference 7)."""
        if not pos or len(self._neg_memory) == 0:
            return
        if self._updater is not None:
            self._updater.submit(pos, list(self._neg_memory), counter)
            return
        self._learner.train(
            self._update_optimizer, torch.cat(pos), torch.cat(list(self._neg_memory)),
            self._options.rtmdnet.update_iterations,
        )
        self._meter.count(counter)

    def _offline_regressor(self) -> dict[str, torch.Tensor] | None:
        """Return the model's offline box regressor if the options ask for it, else None."""
        r = self._options.rtmdnet
        if r.bbreg_source == "first_frame" or not r.bbox_regression:
            return None
        if not self._regressor_prior:
            if not self._warned_no_regressor:
                LOG.warning("bbreg_source=%s but the model has no offline box regressor: "
                            "fitting on the first frame only", r.bbreg_source)
                self._warned_no_regressor = True
            return None
        return self._regressor_prior

    def _subsample(self, n: int, k: int) -> torch.Tensor:
        """Random subset of k indices out of n (all of them, shuffled, if n <= k)."""
        idx = self._rng.permutation(n)[: min(n, k)]
        return torch.as_tensor(idx, dtype=torch.long)

    def _restore_head(self, generator: torch.Generator) -> None:
        with torch.no_grad():
            named = head_parameters(self.net)
            for name, value in self._head_state.items():
                if not is_branch(name) and name in named:
                    named[name].copy_(value)
        if hasattr(self.net, "reset_domains"):
            self.net.reset_domains(1, generator)
            self.net.to(self._device)
        for p in head_parameters(self.net).values():
            p.requires_grad_(True)
