# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Model files: our own format, plus import of the authors' checkpoint and of imagenet-vgg-m.mat.

Our format (docs/design.md, "Model file") is a ``torch.save``d dict that records which backbone
and options produced the weights, so a file can always be rebuilt into the same network and a
wrong file is refused with a message instead of half-loading. fc6 is never stored: it is new at
tracking time.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .backbones import BACKBONES, DEFAULT_EFFNET_CUT
from .network import RTMDNet

LOG = logging.getLogger(__name__)

FORMAT = "rtmdnet_ros-model"
VERSION = 1
# Shapes of the authors' shared layers (reference section 1); fc4/fc5 are optional on import.
AUTHORS_SHAPES: dict[str, tuple[int, ...]] = {
    "conv1.0.weight": (96, 3, 7, 7),
    "conv1.0.bias": (96,),
    "conv2.0.weight": (256, 96, 5, 5),
    "conv2.0.bias": (256,),
    "conv3.0.weight": (512, 256, 3, 3),
    "conv3.0.bias": (512,),
    "fc4.0.weight": (512, 4608),
    "fc4.0.bias": (512,),
    "fc5.1.weight": (512, 512),
    "fc5.1.bias": (512,),
}
_CONV_KEYS = [k for k in AUTHORS_SHAPES if k.startswith("conv")]
_VGGM_MAT_SHAPES = ((7, 7, 3, 96), (5, 5, 96, 256), (3, 3, 256, 512))  # H x W x Cin x Cout


@dataclass
class ModelFile:
    """Everything needed to rebuild a network, without building it."""

    backbone: str
    backbone_options: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    tracker_options: dict[str, Any] = field(default_factory=dict)
    recipe: dict[str, Any] = field(default_factory=dict)
    # Offline box regressor fitted across the training domains ({"weight": (D, 4), "bias": (4,)}
    # float64, training/box_regression.py); empty = the tracker fits its own on the first frame.
    bbox_regressor: dict[str, torch.Tensor] = field(default_factory=dict)
    source: str = ""  # where it came from (path and kind), for logs and reports


def save_model(
    path: str | Path,
    net: RTMDNet,
    recipe: Mapping[str, Any] | None = None,
    tracker_options: Any = None,
    bbox_regressor: Mapping[str, torch.Tensor] | None = None,
) -> Path:
    """Write ``net`` (backbone + fc4/fc5, no fc6) with its options and training recipe."""
    if tracker_options is not None and dataclasses.is_dataclass(tracker_options):
        to_dict = getattr(tracker_options, "to_dict", None)
        tracker_options = to_dict() if to_dict else dataclasses.asdict(tracker_options)
    state = {
        k: v.detach().to("cpu").contiguous().clone()
        for k, v in net.state_dict().items()
        if not k.startswith("fc6.")
    }
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "backbone": net.backbone_name,
        "backbone_options": dict(net.backbone_options),
        "state_dict": state,
        "tracker_options": _plain(dict(tracker_options or {})),
        "recipe": _plain(dict(recipe or {})),
    }
    if bbox_regressor:
        payload["bbox_regressor"] = {
            k: torch.as_tensor(v).detach().to("cpu", torch.float64).contiguous()
            for k, v in bbox_regressor.items()
        }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload, path)
    return path


def _plain(value: Any) -> Any:
    """Reduce options and recipes to types ``torch.load(weights_only=True)`` accepts.

    Paths become strings, numpy scalars/arrays Python numbers/lists, dataclasses dicts; anything
    else unknown is stored as its ``str``. Without this a recipe holding a Path would save fine
    and then be refused on loading.
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
    return str(value)


def load_model(path: str | Path, device: str | torch.device | None = None) -> ModelFile:
    """Read our format, the authors' checkpoint or imagenet-vgg-m.mat; refuse anything else.

    Raises FileNotFoundError for a missing path and ValueError, naming the file and the problem,
    for a file that is not a usable model.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    with path.open("rb") as fh:
        head = fh.read(128)
    if path.suffix.lower() == ".mat" or head.startswith(b"MATLAB"):
        model = _load_vggm_mat(path)
    else:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises several types for garbage; all mean "not ours"
            raise ValueError(
                f"{path} is not a model file (torch.load failed: {type(exc).__name__}: {exc})"
            ) from exc
        model = parse_model(obj, str(path))
    if device is not None:
        model.state_dict = {k: v.to(device) for k, v in model.state_dict.items()}
    return model


def parse_model(obj: Any, source: str = "<object>") -> ModelFile:
    """Turn an already-loaded object (our dict or the authors' checkpoint) into a ModelFile."""
    if not isinstance(obj, Mapping):
        raise ValueError(f"{source}: expected a dict, got {type(obj).__name__}")
    if obj.get("format") == FORMAT:
        return _parse_ours(obj, source)
    if "shared_layers" in obj:
        return _parse_authors(obj["shared_layers"], source)
    keys = ", ".join(sorted(map(str, obj))[:6])
    raise ValueError(
        f"{source}: not an rtmdnet_ros model (no format={FORMAT!r}) nor an RT-MDNet checkpoint "
        f"(no 'shared_layers'); its keys are: {keys}"
    )


def _parse_ours(obj: Mapping[str, Any], source: str) -> ModelFile:
    version = obj.get("version")
    if version != VERSION:
        raise ValueError(f"{source}: model format version {version!r}, this code reads {VERSION}")
    backbone = obj.get("backbone")
    if backbone not in BACKBONES:
        raise ValueError(f"{source}: unknown backbone {backbone!r} (known: {BACKBONES})")
    options = obj.get("backbone_options") or {}
    state = obj.get("state_dict")
    if not isinstance(options, Mapping) or not isinstance(state, Mapping):
        raise ValueError(f"{source}: backbone_options and state_dict must be dicts")
    model = ModelFile(
        backbone=str(backbone),
        backbone_options=dict(options),
        state_dict=dict(state),
        tracker_options=dict(obj.get("tracker_options") or {}),
        recipe=dict(obj.get("recipe") or {}),
        bbox_regressor=_parse_regressor(obj.get("bbox_regressor"), source),
        source=f"{source} (rtmdnet_ros model v{VERSION})",
    )
    _check_against_network(model)
    return model


def _parse_regressor(obj: Any, source: str) -> dict[str, torch.Tensor]:
    """Check the optional offline box regressor: a (D, 4) weight and a (4,) bias."""
    if not obj:
        return {}
    weight, bias = (obj.get(k) if isinstance(obj, Mapping) else None for k in ("weight", "bias"))
    if not (isinstance(weight, torch.Tensor) and isinstance(bias, torch.Tensor)
            and weight.ndim == 2 and weight.shape[1] == 4 and tuple(bias.shape) == (4,)):
        raise ValueError(f"{source}: bbox_regressor needs a (D, 4) weight and a (4,) bias")
    return {"weight": weight.to(torch.float64), "bias": bias.to(torch.float64)}


def _parse_authors(shared: Any, source: str) -> ModelFile:
    """Read the authors' ``shared_layers``: dense VGG-M conv1-3 (+ fc4/fc5), exact key names."""
    if not isinstance(shared, Mapping):
        raise ValueError(f"{source}: 'shared_layers' is a {type(shared).__name__}, not a dict")
    missing = [k for k in _CONV_KEYS if k not in shared]
    if missing:
        raise ValueError(f"{source}: RT-MDNet checkpoint lacks {missing} in 'shared_layers'")
    state: dict[str, torch.Tensor] = {}
    for key, shape in AUTHORS_SHAPES.items():
        if key not in shared:
            continue
        value = shared[key]
        if not isinstance(value, torch.Tensor) or tuple(value.shape) != shape:
            got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise ValueError(f"{source}: '{key}' should be a tensor of shape {shape}, got {got}")
        name = f"backbone.{key}" if key.startswith("conv") else key
        state[name] = value.float()
    return ModelFile(
        backbone="vggm",
        backbone_options={"dense": True, "roi_mode": "adaptive"},
        state_dict=state,
        recipe={"imported_from": "RT-MDNet authors' checkpoint", "file": source},
        source=f"{source} (RT-MDNet authors' checkpoint)",
    )


def vggm_mat_to_state_dict(pairs: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, torch.Tensor]:
    """Convert MatConvNet (W[H, W, Cin, Cout], b) pairs of conv1-3 into our backbone keys."""
    if len(pairs) != 3:
        raise ValueError(f"expected conv1-3 weight pairs, got {len(pairs)}")
    state = {}
    for i, ((weight, bias), shape) in enumerate(
        zip(pairs, _VGGM_MAT_SHAPES, strict=True), start=1
    ):
        weight = np.asarray(weight, dtype=np.float32)
        bias = np.asarray(bias, dtype=np.float32).reshape(-1)
        if weight.shape != shape or bias.shape != (shape[3],):
            raise ValueError(
                f"VGG-M conv{i}: expected weights {shape} and bias ({shape[3]},), "
                f"got {weight.shape} and {bias.shape}"
            )
        state[f"backbone.conv{i}.0.weight"] = torch.from_numpy(
            np.ascontiguousarray(weight.transpose(3, 2, 0, 1))
        )
        state[f"backbone.conv{i}.0.bias"] = torch.from_numpy(bias.copy())
    return state


def _mat_pair(layer: Any) -> tuple[np.ndarray, np.ndarray]:
    """(W, b) of one MatConvNet layer struct as scipy.io.loadmat nests it."""
    layer = _unwrap(layer)
    names = layer.dtype.names or ()
    if "weights" in names:
        pair = _unwrap(layer["weights"])
        flat = [np.asarray(_unwrap(p)) for p in np.asarray(pair, dtype=object).ravel()]
        if len(flat) != 2:
            raise ValueError(f"layer 'weights' holds {len(flat)} arrays, expected (W, b)")
        return flat[0], flat[1]
    if "filters" in names and "biases" in names:  # older MatConvNet files
        return np.asarray(_unwrap(layer["filters"])), np.asarray(_unwrap(layer["biases"]))
    raise ValueError(f"layer has no 'weights' field (fields: {names})")


def _unwrap(x: Any) -> Any:
    """Strip scipy's 1x1 object/struct wrappers."""
    while isinstance(x, np.ndarray) and x.size == 1 and (x.dtype == object or x.ndim > 0):
        if x.dtype.names is not None and x.ndim == 0:
            break
        x = x.reshape(()) if x.dtype.names is not None else x.reshape(-1)[0]
    return x


def _load_vggm_mat(path: Path) -> ModelFile:
    try:
        import scipy.io
    except ImportError as exc:  # pragma: no cover
        raise RuntimeError("reading imagenet-vgg-m.mat needs scipy (pip install scipy)") from exc
    try:
        mat = scipy.io.loadmat(str(path))
    except Exception as exc:
        raise ValueError(f"{path} is not a readable MATLAB file: {exc}") from exc
    if "layers" not in mat:
        raise ValueError(f"{path}: no 'layers' variable; not a MatConvNet VGG-M model")
    layers = np.asarray(mat["layers"], dtype=object).reshape(-1)
    if layers.size < 9:
        raise ValueError(f"{path}: only {layers.size} layers; VGG-M has conv1-3 at 0, 4, 8")
    try:
        pairs = [_mat_pair(layers[i * 4]) for i in range(3)]
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        raise ValueError(f"{path}: not a MatConvNet VGG-M layer list ({exc})") from exc
    try:
        state = vggm_mat_to_state_dict(pairs)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc
    return ModelFile(
        backbone="vggm",
        backbone_options={"dense": True, "roi_mode": "adaptive"},
        state_dict=state,
        recipe={"imported_from": "imagenet-vgg-m.mat", "file": str(path)},
        source=f"{path} (MatConvNet VGG-M ImageNet weights)",
    )


def _network_for(model: ModelFile, generator: torch.Generator | None, **kwargs: Any) -> RTMDNet:
    """Build an untrained network with the architecture the model file records."""
    opts = model.backbone_options
    return RTMDNet(
        model.backbone,
        num_domains=1,
        roi_mode=opts.get("roi_mode", "adaptive"),
        dense=bool(opts.get("dense", True)),
        cut=opts.get("cut", DEFAULT_EFFNET_CUT),
        pretrained_backbone=False,
        generator=generator,
        **kwargs,
    )


def _check_against_network(model: ModelFile) -> None:
    """Every stored tensor must exist in the network with the same shape; backbone complete."""
    try:
        gen = torch.Generator().manual_seed(0)
        ref = _network_for(model, gen, channels_last=False).state_dict()
    except ValueError as exc:
        raise ValueError(f"{model.source}: bad backbone_options: {exc}") from exc
    unexpected = [k for k in model.state_dict if k not in ref]
    if unexpected:
        raise ValueError(f"{model.source}: unexpected keys for {model.backbone}: {unexpected[:5]}")
    wrong = [
        f"{k} {tuple(v.shape)} != {tuple(ref[k].shape)}"
        for k, v in model.state_dict.items()
        if not isinstance(v, torch.Tensor) or tuple(v.shape) != tuple(ref[k].shape)
    ]
    if wrong:
        raise ValueError(f"{model.source}: wrong shapes: {wrong[:3]}")
    missing = [k for k in ref if k.startswith("backbone.") and k not in model.state_dict]
    if missing:
        raise ValueError(f"{model.source}: backbone weights missing: {missing[:5]}")


def build_network(
    model: ModelFile,
    device: str | torch.device | None = None,
    generator: torch.Generator | None = None,
) -> RTMDNet:
    """Rebuild the network a ModelFile describes, with one fresh (seeded) fc6 branch.

    Imported files (authors' checkpoint without fc4/fc5, VGG-M .mat) leave the missing head
    layers at their seeded initialisation; a missing backbone weight is an error.
    """
    net = _network_for(model, generator)
    result = net.load_state_dict(model.state_dict, strict=False)
    if result.unexpected_keys:
        raise ValueError(f"{model.source}: unexpected keys {result.unexpected_keys[:5]}")
    missing_backbone = [k for k in result.missing_keys if k.startswith("backbone.")]
    if missing_backbone:
        raise ValueError(f"{model.source}: backbone weights missing: {missing_backbone[:5]}")
    head = [k for k in result.missing_keys if not k.startswith("fc6.")]
    if head:
        LOG.info("%s has no %s; they start from the seeded initialisation", model.source, head)
    if device is not None:
        net.to(device)
    return net
