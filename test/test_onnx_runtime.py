# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The onnxruntime session helper on a real network (NanoTrack v3) and real frames.

OpenCV's dnn is the independent reference: both runtimes read the same ONNX file, so their
outputs on the same crop must agree to float32 rounding.
"""

import cv2
import numpy as np
import pytest
import torch
from data_paths import nanotrack_v3_dir, sequence_dir

from rtmdnet_ros import onnx_runtime
from rtmdnet_ros import siamese_refiner as sr
from rtmdnet_ros.sequences import read_groundtruth

pytestmark = pytest.mark.skipif(not onnx_runtime.available(), reason="onnxruntime not installed")


def crops(size: int, n: int = 3) -> list[np.ndarray]:
    """Square RGB crops of ``size`` px around the ground truth of real Crossing frames."""
    seq = sequence_dir("Crossing")
    gt = read_groundtruth(seq)
    out = []
    for i in range(0, 10 * n, 10):
        image = cv2.cvtColor(cv2.imread(str(seq / "img" / f"{i + 1:04d}.jpg")), cv2.COLOR_BGR2RGB)
        x, y, w, h = gt[i]
        side = int(2 * max(w, h))
        x0, y0 = int(x + w / 2 - side / 2), int(y + h / 2 - side / 2)
        padded = cv2.copyMakeBorder(image, side, side, side, side, cv2.BORDER_CONSTANT)
        region = padded[y0 + side : y0 + 2 * side, x0 + side : x0 + 2 * side]
        out.append(cv2.resize(region, (size, size)))
    return out


def test_session_matches_opencv_dnn_on_nanotrack_backbone():
    path = nanotrack_v3_dir() / sr.BACKBONE_FILE
    # The file declares 1x3x255x255; the 127 px template needs the spatial dims freed.
    session = onnx_runtime.create_session(path, threads=1, free_spatial_dims=True)
    net = cv2.dnn.readNetFromONNX(str(path))
    for size, shape in ((127, sr.TEMPLATE_FEATURES), (255, sr.SEARCH_FEATURES)):
        for crop in crops(size):
            blob = sr._blob(crop)
            ours = onnx_runtime.run(session, {"input": blob})["output"]
            net.setInput(blob, "input")
            theirs = net.forward("output")
            assert ours.shape == shape
            scale = float(np.abs(theirs).max())
            assert scale > 0.1, "features of a real crop should not vanish"
            np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-4 * scale)


def test_session_from_bytes_and_threads_follow_the_frame_setting():
    path = nanotrack_v3_dir() / sr.BACKBONE_FILE
    before = torch.get_num_threads()
    try:
        onnx_runtime.set_frame_threads(1)
        assert onnx_runtime.frame_threads() == 1 and cv2.getNumThreads() == 1
        session = onnx_runtime.create_session(path.read_bytes())
        blob = sr._blob(crops(255, 1)[0])
        a = onnx_runtime.run(session, {"input": blob})["output"]
        b = onnx_runtime.run(onnx_runtime.create_session(path, threads=2), {"input": blob})
        np.testing.assert_allclose(a, b["output"], rtol=0, atol=1e-4 * float(np.abs(a).max()))
        # Same session, same input: the same bits (the tracker's seeded runs rely on it).
        np.testing.assert_array_equal(a, onnx_runtime.run(session, {"input": blob})["output"])
    finally:
        torch.set_num_threads(before)
    with pytest.raises(ValueError, match="threads"):
        onnx_runtime.set_frame_threads(0)


def test_unreadable_model_names_the_file(tmp_path):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"not an onnx file")
    with pytest.raises(ValueError, match="broken.onnx"):
        onnx_runtime.create_session(bad)
    with pytest.raises(ValueError, match="broken.onnx"):
        onnx_runtime.create_session(bad, free_spatial_dims=True)


def test_declared_size_is_enforced_unless_freed():
    path = nanotrack_v3_dir() / sr.BACKBONE_FILE
    blob = sr._blob(crops(127, 1)[0])
    with pytest.raises(Exception, match="dimensions"):
        onnx_runtime.run(onnx_runtime.create_session(path, threads=1), {"input": blob})
    freed = onnx_runtime.with_free_spatial_dims(path)
    out = onnx_runtime.run(onnx_runtime.create_session(freed, threads=1), {"input": blob})
    assert out["output"].shape == sr.TEMPLATE_FEATURES
