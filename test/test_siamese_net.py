# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""NanoTrack v3 as our PyTorch module: upstream weights, ONNX parity, export.

Upstream checks need ../shared/models/nanotrack_v3 (skip with the reason when absent, fail under
CI=true); the shipped-network checks use only the files in rtmdnet_ros/models/siamese.
Tolerances: features and logits 1e-4 absolute (float32, different summation orders; the
differences seen: docs/setup.md, "Margins in the tests"), box distances 1e-4 relative (they go
through exp).
"""

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from data_paths import nanotrack_v3_dir, sequence_dir

from rtmdnet_ros import siamese_net
from rtmdnet_ros.sequences import read_groundtruth
from rtmdnet_ros.siamese_refiner import (
    EXEMPLAR_SIZE,
    INSTANCE_SIZE,
    SiameseRefiner,
    context_side,
    crop_square,
    mean_colour,
)

ATOL = 1e-4
RTOL_LTRB = 1e-4
SHIPPED = Path(siamese_net.__file__).resolve().parent / "models" / "siamese"

ort = pytest.importorskip("onnxruntime", reason="onnxruntime (requirements/project.txt) missing")


@pytest.fixture(scope="module", autouse=True)
def _threads():
    torch.set_num_threads(1)
    cv2.setNumThreads(1)


def real_crops() -> tuple[np.ndarray, np.ndarray]:
    """Template (frame 1) and search (frame 30) crops of car1 near the true box, as input."""
    seq = sequence_dir("car1")
    truth = read_groundtruth(seq)
    crops = []
    for k, size in ((0, EXEMPLAR_SIZE), (29, INSTANCE_SIZE)):
        image = cv2.cvtColor(cv2.imread(str(seq / "img" / f"{k + 1:04d}.jpg")), cv2.COLOR_BGR2RGB)
        x, y, w, h = truth[k]
        side = context_side(w, h) * size / EXEMPLAR_SIZE
        crop = crop_square(image, x + w / 2 + 9, y + h / 2 - 5, side, size, mean_colour(image))
        crops.append(np.ascontiguousarray(crop[:, :, ::-1].transpose(2, 0, 1)[None],
                                          dtype=np.float32))
    return crops[0], crops[1]


def torch_outputs(net: siamese_net.NanoTrackV3, z: np.ndarray, x: np.ndarray):
    with torch.no_grad():
        fz = net.features(torch.from_numpy(z))
        fx = net.features(torch.from_numpy(x))
        cls, ltrb = net.ban_head(fz, fx)
    return fz.numpy(), fx.numpy(), cls.numpy(), ltrb.numpy()


def onnx_outputs(folder: Path, z: np.ndarray, x: np.ndarray, fz: np.ndarray):
    """Backbone at 255 (onnxruntime), template features and head with OpenCV dnn and ORT."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    backbone = ort.InferenceSession(str(folder / siamese_net.BACKBONE_ONNX), so,
                                    providers=["CPUExecutionProvider"])
    head = ort.InferenceSession(str(folder / siamese_net.HEAD_ONNX), so,
                                providers=["CPUExecutionProvider"])
    fx = backbone.run(["output"], {"input": x})[0]
    cv_backbone = cv2.dnn.readNetFromONNX(str(folder / siamese_net.BACKBONE_ONNX))
    cv_backbone.setInput(z, "input")
    cv_fz = cv_backbone.forward("output").copy()
    cls, ltrb = head.run(["output1", "output2"], {"input1": fz, "input2": fx})
    return cv_fz, fx, cls, ltrb


def assert_close(ours, theirs):
    fz, fx, cls, ltrb = ours
    o_fz, o_fx, o_cls, o_ltrb = theirs
    assert o_fz.shape == fz.shape == (1, 96, 8, 8)
    assert o_fx.shape == fx.shape == (1, 96, 16, 16)
    assert o_cls.shape == cls.shape == (1, 2, 15, 15)
    assert o_ltrb.shape == ltrb.shape == (1, 4, 15, 15)
    np.testing.assert_allclose(fz, o_fz, atol=ATOL, rtol=0)
    np.testing.assert_allclose(fx, o_fx, atol=ATOL, rtol=0)
    np.testing.assert_allclose(cls, o_cls, atol=ATOL, rtol=0)
    np.testing.assert_allclose(ltrb, o_ltrb, rtol=RTOL_LTRB, atol=0)


@pytest.fixture(scope="module")
def upstream() -> siamese_net.NanoTrackV3:
    return siamese_net.load_upstream(nanotrack_v3_dir() / siamese_net.UPSTREAM_CHECKPOINT)


def test_upstream_weights_load_strictly_with_the_documented_sizes(upstream):
    backbone = sum(p.numel() for p in upstream.backbone.parameters())
    assert backbone == 282_368  # ../shared/models/README.md
    state = torch.load(nanotrack_v3_dir() / siamese_net.UPSTREAM_CHECKPOINT, map_location="cpu",
                       weights_only=False)["state_dict"]
    assert set(upstream.state_dict()) == set(state)


def test_module_reproduces_the_upstream_onnx_graphs(upstream):
    z, x = real_crops()
    ours = torch_outputs(upstream, z, x)
    assert_close(ours, onnx_outputs(nanotrack_v3_dir(), z, x, ours[0]))
    # The prediction is meaningful, not just equal: the target cell wins near the centre.
    logits = ours[2][0]
    prob = np.exp(logits[1]) / np.exp(logits).sum(axis=0)
    i, j = np.unravel_index(np.argmax(prob), prob.shape)
    assert abs(i - 7) <= 2 and abs(j - 7) <= 2 and prob[i, j] > 0.9


def test_neck_is_not_part_of_upstreams_inference_graph(upstream):
    # The checkpoint has neck.* weights, but upstream's backbone ONNX ends before them.
    _, x = real_crops()
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    backbone = ort.InferenceSession(str(nanotrack_v3_dir() / siamese_net.BACKBONE_ONNX), so,
                                    providers=["CPUExecutionProvider"])
    reference = backbone.run(["output"], {"input": x})[0]
    with torch.no_grad():
        with_neck = upstream.neck(upstream.features(torch.from_numpy(x))).numpy()
    assert np.abs(with_neck - reference).max() > 1.0


def test_export_writes_upstreams_io_and_equals_the_module(upstream, tmp_path):
    siamese_net.export_onnx(upstream, tmp_path)
    z, x = real_crops()
    ours = torch_outputs(upstream, z, x)
    assert_close(ours, onnx_outputs(tmp_path, z, x, ours[0]))
    backbone = ort.InferenceSession(str(tmp_path / siamese_net.BACKBONE_ONNX),
                                    providers=["CPUExecutionProvider"])
    # Dynamic spatial size: onnxruntime runs the template size too (upstream's file is 255 only).
    fz = backbone.run(["output"], {"input": z})[0]
    np.testing.assert_allclose(fz, ours[0], atol=ATOL, rtol=0)
    head = ort.InferenceSession(str(tmp_path / siamese_net.HEAD_ONNX),
                                providers=["CPUExecutionProvider"])
    assert [i.name for i in head.get_inputs()] == ["input1", "input2"]
    assert [o.name for o in head.get_outputs()] == ["output1", "output2"]
    assert [i.name for i in backbone.get_inputs()] == ["input"]
    assert [o.name for o in backbone.get_outputs()] == ["output"]


# --- the shipped network (rtmdnet_ros/models/siamese), no ../shared needed --------------------

def test_shipped_folder_has_the_network_its_weights_and_attribution():
    for name in (siamese_net.BACKBONE_ONNX, siamese_net.HEAD_ONNX, siamese_net.SHIPPED_WEIGHTS,
                 "NOTICE", "LICENSE"):
        assert (SHIPPED / name).is_file(), name
    notice = (SHIPPED / "NOTICE").read_text()
    assert "248663fde6bf7c40190cf10ee396d5662919ecd3" in notice
    assert "Apache" in (SHIPPED / "LICENSE").read_text()


def test_shipped_onnx_equals_the_shipped_weights():
    net = siamese_net.load_state(SHIPPED / siamese_net.SHIPPED_WEIGHTS)
    rng = np.random.default_rng(0)
    # Smooth, image-like input (noise would drive the head far outside its range).
    z = cv2.GaussianBlur(rng.uniform(0, 255, (127, 127, 3)).astype(np.float32), (0, 0), 4)
    x = cv2.GaussianBlur(rng.uniform(0, 255, (255, 255, 3)).astype(np.float32), (0, 0), 4)
    z = np.ascontiguousarray(z.transpose(2, 0, 1)[None])
    x = np.ascontiguousarray(x.transpose(2, 0, 1)[None])
    ours = torch_outputs(net, z, x)
    assert_close(ours, onnx_outputs(SHIPPED, z, x, ours[0]))


def test_shipped_network_loads_in_the_refiner_and_differs_from_upstream():
    refiner = SiameseRefiner(SHIPPED)  # OpenCV dnn, the loader the tracker uses
    image = np.full((240, 320, 3), 90, np.uint8)
    cv2.rectangle(image, (140, 100), (180, 140), (200, 40, 40), -1)
    refiner.set_template(image, (140, 100, 40, 40))
    prob, boxes, _ = refiner.score_maps(image, (140, 100, 40, 40))
    i, j = np.unravel_index(np.argmax(prob), prob.shape)
    assert (i, j) == (7, 7)
    assert np.allclose(boxes[2:, i, j], 40, rtol=0.3)


def test_without_shared_the_proposer_tracks_with_the_shipped_network(monkeypatch, tmp_path):
    # A fresh clone: no ../shared (data and models out of reach). The Siamese proposer (and so
    # the composite and the `siamese` peer) resolves its network to the shipped folder and
    # tracks a synthetic clip with it.
    from synthetic_clip import make_clip

    from rtmdnet_ros.composite.proposer import SiameseProposer
    from rtmdnet_ros.packaged_models import siamese_dir

    monkeypatch.setenv("RTMDNET_DATA", str(tmp_path / "no_data"))
    monkeypatch.setenv("RTMDNET_NANOTRACK_V3_DIR", str(tmp_path / "no_models"))
    folder = siamese_dir("")
    assert folder.resolve() == SHIPPED.resolve()
    frames, truth = make_clip(n_frames=30)
    proposer = SiameseProposer(folder)
    proposer.init(frames[0], truth[0])
    ious = []
    for frame, gt in zip(frames[1:], truth[1:], strict=True):
        proposer.advance(proposer.propose(frame)[0], (frame.shape[1], frame.shape[0]))
        box = proposer.box
        x1, y1 = max(box[0], gt[0]), max(box[1], gt[1])
        x2 = min(box[0] + box[2], gt[0] + gt[2])
        y2 = min(box[1] + box[3], gt[1] + gt[3])
        inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
        ious.append(inter / (box[2] * box[3] + gt[2] * gt[3] - inter))
    assert np.mean(ious) > 0.6, np.mean(ious)
