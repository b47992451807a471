# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""RoI features for the online classifier: scene crops, one backbone pass each, pooled RoIs.

One scene crop per frame goes through the backbone once; every candidate is pooled from that map
(the "real-time" in RT-MDNet). The backbone's runtime (PyTorch or onnxruntime) is chosen here,
once, so nothing above this module knows which one runs.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from .backbone_runtime import OnnxFeatureMap, choose_runtime
from .crop import crop_scene, jitter_scene_boxes, to_tensor
from .geometry import crop_size, samples_to_rois, scene_box
from .network import RTMDNet
from .options import TrackerOptions
from .track_types import Meter

LOG = logging.getLogger(__name__)


class FeatureExtractor:
    """Crops, backbone maps and pooled RoI features of one frozen network."""

    def __init__(self, net: RTMDNet, options: TrackerOptions, device: torch.device,
                 meter: Meter) -> None:
        self.net = net
        self._geo = options.network
        self._chunk = options.execution.roi_chunk
        self._device = device
        self._meter = meter
        self.runtime = choose_runtime(options.execution.runtime, device)
        self._onnx = (OnnxFeatureMap(net, release_memory=options.execution.release_backbone_memory)
                      if self.runtime == "onnxruntime" else None)
        LOG.info("backbone runtime: %s", self.runtime)

    @property
    def dim(self) -> int:
        """Return the length of one RoI feature vector."""
        return self.net.feature_dim

    def empty(self) -> torch.Tensor:
        """Return no features, shaped so they concatenate with some."""
        return torch.zeros((0, self.dim), device=self._device)

    def rois(self, samples: np.ndarray, scene_xy: np.ndarray, target_wh: np.ndarray,
             img_size: float | None = None) -> np.ndarray:
        """Sample boxes in image pixels -> RoIs on the map of the crop at ``scene_xy``."""
        size = self._geo.img_size if img_size is None else img_size
        return samples_to_rois(samples, scene_xy, target_wh, size, self._geo.padding,
                               self.net.rf_offset)

    def feature_map(self, image: np.ndarray, scene: np.ndarray, out_wh) -> torch.Tensor:
        """Return the map of one scene crop rendered at ``out_wh``."""
        with self._meter.timed("crop"):
            crop = crop_scene(image, scene, out_wh)
        return self.backbone_map([crop])

    def scene_map(self, image: np.ndarray, scene: np.ndarray, target_wh: np.ndarray
                  ) -> torch.Tensor:
        """Return the map of a scene crop scaled so that the target spans ``img_size`` px."""
        return self.feature_map(image, scene, crop_size(scene[2:], target_wh, self._geo.img_size))

    def backbone_map(self, crops: list[np.ndarray]) -> torch.Tensor:
        """Feature maps of same-size HxWx3 float crops, by the runtime chosen at construction."""
        if self._onnx is not None:
            with self._meter.timed("crop"):
                x = np.ascontiguousarray(np.stack(crops).transpose(0, 3, 1, 2), dtype=np.float32)
            with self._meter.timed("backbone"):
                return self._onnx(x)
        with self._meter.timed("crop"):
            x = to_tensor(crops, self._device)
        with self._meter.timed("backbone"), torch.no_grad():
            return self.net.feature_map(x)

    def pool(self, fmap: torch.Tensor, rois: np.ndarray, batch_idx=None) -> torch.Tensor:
        """Pool RoIs in chunks: RoI pooling's temporaries grow with N x C x 49 x 4 taps."""
        with self._meter.timed("roi"), torch.no_grad():
            idx = np.zeros((len(rois), 1)) if batch_idx is None else batch_idx[:, None]
            r = torch.as_tensor(np.concatenate([idx, rois], axis=1), dtype=torch.float32)
            r = r.to(self._device)
            if len(r) <= self._chunk:
                return self.net.pool_rois(fmap, r)
            return torch.cat([self.net.pool_rois(fmap, r[i : i + self._chunk])
                              for i in range(0, len(r), self._chunk)])

    def sample_features(
        self,
        image: np.ndarray,
        sample_sets: list[np.ndarray],
        target_wh: np.ndarray,
        rng: np.random.Generator,
        jitter=((0.0, 0.0, 1.0),),
        keep: list[int] | None = None,
    ) -> list[tuple[torch.Tensor, np.ndarray]]:
        """RoI features of several sample sets, pooled from one scene crop per jitter entry.

        Reference 5 pools every sample from every jitter crop and then keeps a random subset.
        Drawing the (crop, sample) pairs first and pooling only those gives the same
        distribution for a fraction of the RoI work. ``keep[i]`` bounds how many rows set ``i``
        returns (None = all pairs). Returns per set the features and the matching sample boxes.
        """
        geo = self._geo
        n_jit = len(jitter)
        chosen: list[np.ndarray] = []  # per set: flat indices crop * n + sample
        for i, s in enumerate(sample_sets):
            total = n_jit * len(s)
            k = total if keep is None or keep[i] is None else min(total, keep[i])
            idx = np.arange(total) if k == total else rng.choice(total, k, replace=False)
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
            fmap = self.feature_map(image, box, out_wh)
            pooled = self.pool(fmap, self.rois(subset, box[:2], target_wh, geo.img_size * scale))
            start = 0
            for i, (s, p) in enumerate(zip(sample_sets, picks, strict=True)):
                feats[i].append(pooled[start : start + len(p)])
                boxes[i].append(s[p])
                start += len(p)
        return [
            (torch.cat(f, 0) if f else self.empty(),
             np.concatenate(b, 0) if b else np.zeros((0, 4)))
            for f, b in zip(feats, boxes, strict=True)
        ]
