# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The one device rule (rtmdnet_ros/device.py) and that every caller follows it."""

import pytest
import torch

from rtmdnet_ros.device import (
    CudaUnavailable,
    DeviceError,
    check_device_name,
    choose_device,
    resolve_device,
)
from rtmdnet_ros.options import TrackerOptions

NO_CUDA = not torch.cuda.is_available()


def test_accepted_names_and_the_error_for_others():
    for name in ("auto", "cpu", "cuda", "cuda:1"):
        assert check_device_name(name) == name
    assert check_device_name(None) == "auto"
    assert check_device_name(torch.device("cpu")) == "cpu"
    for bad in ("tpu", "cuda:x", "gpu", ""):
        with pytest.raises(DeviceError, match="auto, cpu or cuda"):
            check_device_name(bad)


def test_cpu_and_auto():
    assert resolve_device("cpu") == torch.device("cpu")
    choice = choose_device("auto")
    assert choice.device.type == ("cpu" if NO_CUDA else "cuda") and not choice.fell_back
    assert resolve_device(None) == choice.device


@pytest.mark.skipif(not NO_CUDA, reason="CUDA present: the missing-CUDA paths cannot run here")
def test_cuda_missing_is_an_error_unless_the_fallback_is_allowed():
    assert "CUDA is not available" in choose_device("auto").reason
    with pytest.raises(CudaUnavailable, match="CUDA is not available"):
        resolve_device("cuda:0")
    choice = choose_device("cuda", cuda_fallback=True)
    assert choice.device == torch.device("cpu") and choice.fell_back
    assert "falling back" in choice.reason


def test_every_caller_applies_the_same_rule():
    from rtmdnet_ros import tracker
    from rtmdnet_ros.training import trainer

    assert tracker.resolve_device is resolve_device
    assert not hasattr(trainer, "pick_device")
    with pytest.raises(ValueError, match="auto, cpu or cuda"):
        TrackerOptions().replace(device="tpu")
    with pytest.raises(DeviceError):
        tracker.Tracker(device="tpu", seed=0)


def test_one_process_per_gpu_takes_its_local_rank():
    """torchrun's processes: cuda/auto become cuda:LOCAL_RANK; CPU requests stay CPU."""
    assert resolve_device("cpu", local_rank=1) == torch.device("cpu")
    if NO_CUDA:
        assert resolve_device("auto", local_rank=1) == torch.device("cpu")
        return
    assert resolve_device("auto", local_rank=0) == torch.device("cuda", 0)
    assert resolve_device("cuda", local_rank=0) == torch.device("cuda", 0)
    with pytest.raises(DeviceError, match="every process would use that GPU"):
        resolve_device("cuda:0", local_rank=0)
    with pytest.raises(DeviceError, match="has no GPU of its own"):
        resolve_device("cuda", local_rank=torch.cuda.device_count())
