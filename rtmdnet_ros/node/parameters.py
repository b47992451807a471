# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The tracker node's ROS parameters: one table of names, defaults, descriptions and limits.

Kept apart from the node so the table (what ``ros2 param describe`` shows, what
config/tracker.yaml must list) and the rules for run-time changes can be read in one place; the
node only declares them and applies accepted changes to its own state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.parameter import Parameter

from rtmdnet_ros.device import DEVICE_NAMES
from rtmdnet_ros.options import (
    BOX_REFINERS,
    FIRST_FRAME_MODES,
    MODES,
    UPDATE_MODES,
    TrackerOptions,
    check_choice,
    one_of,
)
from rtmdnet_ros.ros_io.image_conversion import IMAGE_TRANSPORTS
from rtmdnet_ros.score_scale import logit


@dataclass(frozen=True)
class ParamSpec:
    """One node parameter: its default (which fixes its type), description and limits."""

    name: str
    default: Any
    description: str
    read_only: bool = False  # fixed at start: a run-time change is refused with a reason
    float_range: tuple[float, float] | None = None
    int_range: tuple[int, int] | None = None
    constraints: str = ""
    may_be_empty: bool = False  # a string whose empty value means something ("any", "off")

    def descriptor(self) -> ParameterDescriptor:
        """Build the descriptor rclpy enforces and `ros2 param describe` shows."""
        # dynamic_typing False (rclpy's default, stated): rclpy refuses a value of another type
        # than the default's, so the node's callback never sees one.
        desc = ParameterDescriptor(description=self.description, read_only=self.read_only,
                                   additional_constraints=self.constraints,
                                   dynamic_typing=False)
        if self.float_range is not None:
            low, high = self.float_range
            desc.floating_point_range = [
                FloatingPointRange(from_value=float(low), to_value=float(high), step=0.0)]
        if self.int_range is not None:
            low, high = self.int_range
            desc.integer_range = [IntegerRange(from_value=int(low), to_value=int(high), step=1)]
        return desc


def _choices(allowed: tuple[str, ...]) -> str:
    """Write allowed values as ``ros2 param describe`` shows constraints: "a | b | c"."""
    return " | ".join(allowed)


def _specs(defaults: TrackerOptions) -> tuple[ParamSpec, ...]:
    # Choices and defaults come from the options and device modules (one definition each).
    return (
        ParamSpec("autostart", True,
                  "Configure and activate on start (a plain node); false = stay unconfigured "
                  "for a lifecycle manager or `ros2 lifecycle set`. Fixed at start.",
                  read_only=True),
        ParamSpec("device", "auto",
                  f"Torch device: {one_of(DEVICE_NAMES)} (auto = cuda when available). Fixed "
                  "at start.", read_only=True, constraints=_choices(DEVICE_NAMES)),
        ParamSpec("cuda_fallback", True,
                  "When device is cuda but CUDA is missing: true = log a warning and use the "
                  "CPU, false = refuse to start.", read_only=True),
        ParamSpec("model_path", "",
                  "Model file (*.pt, rtmdnet_ros format); empty = the packaged default model.",
                  read_only=True),
        ParamSpec("seed", 0,
                  "Random seed of the tracker's sampling (-1 = unseeded). Fixed at start.",
                  read_only=True, int_range=(-1, 2**31 - 1)),
        ParamSpec("torch_threads", 0,
                  "CPU threads torch may use (0 = torch's default). Fixed at start.",
                  read_only=True, int_range=(0, 256)),
        ParamSpec("update_mode", "async",
                  "Online model updates: async = in a worker thread, new weights swapped in "
                  "between frames (a frame never waits for learning); sync = inside the frame, "
                  "as RT-MDNet does (the evaluation reference). Fixed at start.",
                  read_only=True, constraints=_choices(UPDATE_MODES)),
        ParamSpec("mode", defaults.mode,
                  "composite = NanoTrack v3's Siamese network proposes, RT-MDNet's online "
                  "classifier verifies, one rule decides (the package's Siamese network ships "
                  "with it); reference = RT-MDNet alone, as the paper; siamese = the Siamese "
                  "network alone (fastest; never reports LOST). Fixed at start.",
                  read_only=True, constraints=_choices(MODES)),
        ParamSpec("first_frame", "background",
                  "Composite: background = ~/init answers once the Siamese template is taken "
                  "and the classifier learns the first frame in a thread (TRACKING meanwhile "
                  "on the Siamese network's confidence, said in the status message); inline = "
                  "~/init answers after that training. Fixed at start.",
                  read_only=True, constraints=_choices(FIRST_FRAME_MODES)),
        ParamSpec("composite_verify_aside", True,
                  "Composite: true = the classifier verifies in a worker beside the frame path, "
                  "which answers every frame from the Siamese network and applies each verdict "
                  "from the frame it judged (a rejection makes the next answer LOST); false = "
                  "verification inside the frame, as offline. Fixed at start.", read_only=True),
        ParamSpec("release_backbone_memory", True,
                  "true = the classifier's backbone gives its working memory back after every "
                  "pass (a slower pass, on verification frames only), so the node's memory does "
                  "not creep up to the largest crop any track needed; false = keep it, as the "
                  "evaluation tools do. Fixed at start.", read_only=True),
        ParamSpec("siamese_dir", "",
                  "Folder of the composite's Siamese network (nanotrack_backbone.onnx + "
                  "nanotrack_head.onnx); empty = the one shipped in the package. Fixed at start.",
                  read_only=True),
        ParamSpec("box_refiner", defaults.refiner.kind,
                  "Box refinement by NanoTrack v3's Siamese head (keeps small targets' boxes "
                  "from shrinking): auto = when its ONNX files are found, nanotrack_v3 = "
                  "required (start fails without them), none = RT-MDNet's own box. Fixed at "
                  "start.", read_only=True, constraints=_choices(BOX_REFINERS)),
        ParamSpec("refiner_dir", "",
                  "Folder of the box refiner's network (nanotrack_backbone.onnx + "
                  "nanotrack_head.onnx); empty = the Siamese network shipped in the package. "
                  "Fixed at start.",
                  read_only=True),
        ParamSpec("label", "object",
                  "class_id written into results[0].hypothesis.class_id (an init request may "
                  "give its own)."),
        ParamSpec("image_transport", "raw",
                  "raw: subscribe to sensor_msgs/Image on 'image'; compressed: "
                  "sensor_msgs/CompressedImage on 'image/compressed'. Fixed at start.",
                  read_only=True, constraints=_choices(IMAGE_TRANSPORTS)),
        ParamSpec("publish_debug", True,
                  "Publish ~/debug_image (drawn only while someone subscribes)."),
        ParamSpec("lost_score_threshold", 0.5,
                  "State is TRACKING while the detection score (sigmoid of the tracker's raw "
                  "confidence) is above this, else LOST; the tracker's own search follows the "
                  "same rule. 0.5 = RT-MDNet's own rule (raw > 0). Applies from the next init.",
                  float_range=(0.0, 1.0)),
        ParamSpec("frame_cache_seconds", 10.0,
                  "Seconds of recent frames kept so ~/init can start on the frame a box was "
                  "drawn on (the memory this takes at the camera's size and rate is logged).",
                  float_range=(0.5, 60.0)),
        ParamSpec("frame_cache_max_mb", 1024.0,
                  "The most memory the frame cache may take, in MB (0 = no cap): with a large "
                  "camera image this, not frame_cache_seconds, sets how far back an init reaches "
                  "(logged). 640x480 at 30 Hz: 10 s take about 280 MB; 1080p: about 1.9 GB.",
                  float_range=(0.0, 65536.0)),
        ParamSpec("max_init_frame_age", 2.0,
                  "An ~/init without a stamp starts on the newest frame only if it arrived at "
                  "most this many seconds ago (a stopped camera is refused, not tracked).",
                  float_range=(0.1, 3600.0)),
        ParamSpec("max_targets", 1,
                  "Targets tracked at once, each with its own tracker (memory and time per "
                  "frame grow with each): 1 = an ~/init replaces the track; more = an ~/init "
                  "without track_id adds a target. Fixed at start.",
                  read_only=True, int_range=(1, 16)),
        ParamSpec("detections_topic", "",
                  "vision_msgs/Detection2DArray input from a detector (a relative name follows "
                  "the node's namespace); each array is matched to the cached frame with its "
                  "stamp. Empty = no detector input. Fixed at start.", read_only=True),
        ParamSpec("auto_init", False,
                  "Start a track on the first detection of init_class while IDLE (needs "
                  "detections_topic): once per activation; set it true again to re-arm after a "
                  "~/reset."),
        ParamSpec("init_class", "",
                  "class_id of the detections auto_init starts on (the highest score of a "
                  "frame); empty = any class.", may_be_empty=True),
        ParamSpec("init_min_score", 0.0,
                  "Detections scoring below this never start or restart a track (auto_init, "
                  "re-initialisation, ~/init by class or point, clicks).",
                  float_range=(0.0, 1.0)),
        ParamSpec("reinit_when_lost", False,
                  "While LOST, restart the track (same track id) on a detection of its class "
                  "near where it was lost that the tracker's verifier accepts."),
        ParamSpec("reinit_radius", 2.0,
                  "How near a detection must be to restart a lost track: its centre at most "
                  "this many target sizes (the last TRACKING box's mean side) from that box's "
                  "centre.", float_range=(0.1, 100.0)),
        ParamSpec("click_topic", "",
                  "geometry_msgs/Point input, as rqt_image_view publishes a click: the pixel "
                  "starts a track on the newest frame (the launch file's click_to_track sets "
                  "~/debug_image_mouse_left, rqt_image_view's topic for the debug image). "
                  "Empty = no click input. Fixed at start.", read_only=True),
        ParamSpec("click_stamped_topic", "",
                  "geometry_msgs/PointStamped input: a clicked pixel on the cached frame with "
                  "its stamp (a tool that stamps its clicks). Empty = none. Fixed at start.",
                  read_only=True),
        ParamSpec("click_box_size", 64.0,
                  "Pixels: side of the box a click (or ~/init by point) starts on when no "
                  "detection of its frame contains the point; clipped to the image.",
                  float_range=(5.0, 4096.0)),
        ParamSpec("status_rate", 1.0,
                  "Hz: ~/status is published at least this often, also when no image arrives "
                  "(then saying for how long).", float_range=(0.1, 100.0)),
        ParamSpec("debug_image_jpeg_quality", 80,
                  "JPEG quality (1..100) of ~/debug_image/compressed, encoded only while "
                  "someone subscribes to it.", int_range=(1, 100)),
        ParamSpec("diagnostics_rate", 1.0,
                  "Hz: /diagnostics (diagnostic_msgs/DiagnosticArray) is published this often, "
                  "in every lifecycle state.", float_range=(0.1, 10.0)),
        ParamSpec("diagnostics_window", 10.0,
                  "Seconds the /diagnostics figures cover (input rate, answered share, "
                  "stamp-to-detection percentiles, frames dropped).", float_range=(1.0, 600.0)),
        ParamSpec("diagnostics_min_answered", 0.8,
                  "/diagnostics turns WARN when a smaller share of the frames that arrived in "
                  "the window was answered.", float_range=(0.0, 1.0)),
        ParamSpec("diagnostics_max_image_age", 2.0,
                  "/diagnostics turns WARN when no frame has arrived for longer than this "
                  "(seconds), or none yet.", float_range=(0.1, 3600.0)),
        ParamSpec("diagnostics_max_lost", 5.0,
                  "/diagnostics turns WARN when the target has been LOST for longer than this "
                  "(seconds).", float_range=(0.0, 3600.0)),
        ParamSpec("n_candidates", 0,
                  f"Candidate boxes scored per frame (0 = the model's value; RT-MDNet: "
                  f"{defaults.rtmdnet.n_candidates}). Applies from the next init.",
                  int_range=(0, 4096)),
        ParamSpec("composite_verify_every", 0,
                  f"Composite: the classifier verifies every N-th frame, at once when the "
                  f"Siamese network is in doubt and on every frame until it confirms the track "
                  f"(0 = the model's value; default {defaults.composite.verify_every}; 1 = every "
                  f"frame). Applies from the next init.", int_range=(0, 1000)),
        ParamSpec("long_term_interval", 0,
                  f"Frames between long-term model updates (0 = the model's value; RT-MDNet: "
                  f"{defaults.rtmdnet.long_term_interval}). Applies from the next init.",
                  int_range=(0, 1000)),
    )


SPECS: tuple[ParamSpec, ...] = _specs(TrackerOptions())
PARAMETER_NAMES: tuple[str, ...] = tuple(spec.name for spec in SPECS)
# Parameters that become tracker options at the next init (0 = keep the model's value).
TRACKER_OPTION_PARAMETERS = ("n_candidates", "long_term_interval", "composite_verify_every")
# Parameters of the detector and click inputs (node/target_inputs.py), applied there at once.
HAND_OFF_PARAMETERS = ("detections_topic", "auto_init", "init_class", "init_min_score",
                       "reinit_when_lost", "reinit_radius", "click_topic", "click_stamped_topic",
                       "click_box_size")
_BY_NAME = {spec.name: spec for spec in SPECS}


_TYPE_WORDS = {
    Parameter.Type.BOOL: "true or false",
    Parameter.Type.INTEGER: "an integer",
    Parameter.Type.DOUBLE: "a number with a decimal point",
    Parameter.Type.STRING: "a string",
}


def _type_words(kind: Parameter.Type) -> str:
    """Name a parameter type as a user reads it (rclpy's own message prints enum numbers)."""
    return _TYPE_WORDS.get(kind, kind.name.lower().replace("_", " "))


def _shown(value: Any) -> str:
    """Write a value as YAML and ``-p`` would."""
    if isinstance(value, bool):
        return str(value).lower()
    return repr(value) if isinstance(value, str) else str(value)


def type_refusal(param: Parameter) -> str | None:
    """Why ``param`` has the wrong type for its declaration, in words; None when it fits.

    rclpy refuses such a value itself, but says e.g. "Wrong parameter type, expected '3' got
    '4'" (enum numbers on Python >= 3.11), which names neither the parameter nor the types.
    """
    spec = _BY_NAME.get(param.name)
    if spec is None or param.type_ == Parameter.Type.NOT_SET:
        return None
    wanted = Parameter.Type.from_parameter_value(spec.default)
    if param.type_ == wanted:
        return None
    return (f"parameter {spec.name} takes {_type_words(wanted)} (default "
            f"{_shown(spec.default)}), not {_type_words(param.type_)} ({_shown(param.value)})")


def declare_all(node: Any) -> list[str]:
    """Declare every parameter on ``node``; return one sentence per value that was refused.

    A value from a params file or ``-p`` of the wrong type or out of range is not taken: the
    parameter is declared with its default and the sentence names the parameter, the value and
    what it takes, so the node can stay up and say it in one line (rclpy's own exceptions end
    in the name repeated after a colon, and its type error shows enum names).
    """
    from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException

    # The value the user gave (the exceptions do not carry it); rclpy keeps the overrides here.
    overrides = getattr(node, "_parameter_overrides", None) or {}
    problems = []
    for spec in SPECS:
        try:
            node.declare_parameter(spec.name, spec.default, spec.descriptor())
            continue
        except InvalidParameterTypeException:
            given = overrides.get(spec.name)
            reason = type_refusal(given) if given is not None else None
            problems.append((reason or f"parameter {spec.name} has the wrong type") +
                            " (from the params file or -p)")
        except InvalidParameterValueException:
            given = overrides.get(spec.name)
            shown = f" = {_shown(given.value)}" if given is not None else ""
            problems.append(f"parameter {spec.name}{shown} is outside {_allowed(spec)} "
                            "(from the params file or -p)")
        node.declare_parameter(spec.name, spec.default, spec.descriptor(), ignore_override=True)
    return problems


def fix_hint(name: str | None) -> str:
    """How to correct parameter ``name`` on a node that stays up unconfigured, in words."""
    spec = _BY_NAME.get(name or "")
    if spec is None:
        return "correct it and start the node again"
    if spec.read_only:
        return f"{spec.name} is fixed at start: start the node again with a corrected value"
    return (f"start the node again with a corrected value, or set {spec.name} (ros2 param set) "
            "and configure it (ros2 lifecycle set ... configure)")


def problem_line(problem: str) -> str:
    """Return the one line a node logs when ``problem`` fails its configure."""
    return (f"configure failed: {problem}; the node stays unconfigured (up, its parameters "
            f"answering): {fix_hint(named_parameter(problem))}")


def named_parameter(sentence: str) -> str | None:
    """Return the parameter a refusal sentence is about ("parameter mode must be ..."), if any."""
    words = sentence.replace("=", " ").split()
    for first, second in zip(words, words[1:], strict=False):
        if first == "parameter" and second in _BY_NAME:
            return second
    return next((w.strip("'\",:") for w in words if w.strip("'\",:") in _BY_NAME), None)


def _allowed(spec: ParamSpec) -> str:
    """Write the accepted range of a numeric parameter as a user would."""
    if spec.float_range is not None:
        return f"[{spec.float_range[0]:g}, {spec.float_range[1]:g}]"
    if spec.int_range is not None:
        return f"{spec.int_range[0]}..{spec.int_range[1]}"
    return "its allowed values"


def refusal(param: Parameter) -> str | None:
    """Why a run-time change of ``param`` is refused, or None when it may be applied.

    On a running node rclpy enforces the descriptors (type, range, read-only) before the node's
    callback calls this, so there only the rules a descriptor cannot state still bite (a blank
    label). The full rule set is kept so that the table alone explains every refusal, e.g. for
    a tool checking a params file before a start.
    """
    spec = _BY_NAME.get(param.name)
    if spec is None:
        return None
    if spec.read_only:
        return f"{spec.name} is fixed at start; restart the node"
    kind, value = param.type_, param.value
    if isinstance(spec.default, bool):
        if kind != Parameter.Type.BOOL:
            return f"{spec.name} must be true or false"
    elif isinstance(spec.default, str):
        if kind != Parameter.Type.STRING or not (str(value).strip() or spec.may_be_empty):
            return f"{spec.name} must be a non-empty string"
    elif isinstance(spec.default, float):
        low, high = spec.float_range or (-float("inf"), float("inf"))
        if kind not in (Parameter.Type.DOUBLE, Parameter.Type.INTEGER) or not (
                low <= float(value) <= high):
            return f"{spec.name} must be in [{low:g}, {high:g}]"
    elif kind != Parameter.Type.INTEGER:
        return f"{spec.name} must be an integer"
    return None


def tracker_option_overrides(values: dict[str, Any]) -> dict[str, Any]:
    """Tracker options the parameters set (0 = keep the model's / reference value)."""
    overrides: dict[str, Any] = {name: int(values[name]) for name in TRACKER_OPTION_PARAMETERS
                                 if int(values.get(name, 0)) > 0}
    if int(values.get("torch_threads", 0)) > 0:  # the tracker applies it when it is built
        overrides["torch_threads"] = int(values["torch_threads"])
    for name in ("update_mode", "mode", "first_frame", "siamese_dir", "box_refiner",
                 "refiner_dir"):
        if name in values:
            overrides[name] = str(values[name])
    for name in ("composite_verify_aside", "release_backbone_memory"):
        if name in values:
            overrides[name] = bool(values[name])
    if "lost_score_threshold" in values:
        overrides["success_threshold"] = lost_threshold_to_raw(values["lost_score_threshold"])
    return overrides


def check_tracker_parameters(values: dict[str, Any]) -> None:
    """Raise ValueError ("parameter update_mode must be sync or async, ...") for a bad value.

    The check is the options' own (building them from the parameters' overrides), so the node
    accepts exactly what a ``Tracker`` would; the model file's options come in later.
    """
    try:
        TrackerOptions().with_overrides(tracker_option_overrides(values))
    except ValueError as exc:
        raise ValueError(f"parameter {exc}") from exc


def lost_threshold_to_raw(threshold: float) -> float:
    """``lost_score_threshold`` (0..1, on the published score) as the tracker's raw threshold."""
    return logit(float(threshold))


def unknown_parameters(node: Any) -> list[str]:
    """Names given in a params file or with ``-p`` that the node does not declare.

    rclpy keeps undeclared overrides without a word (a typo is otherwise silent);
    ``_parameter_overrides`` is rclpy's own record of them (read defensively, it is not public
    API). QoS overrides are declared by the publishers and subscriptions, not here.
    """
    overrides = getattr(node, "_parameter_overrides", {}) or {}
    declared = set(node._parameters)
    return [name for name in sorted(set(overrides) - declared)
            if not name.startswith("qos_overrides.")]


def read_values(node: Any) -> dict[str, Any]:
    """Return the parameters' current values, checked as a whole; ValueError names a bad one.

    rclpy has checked each value against its descriptor; what is left are the choices the
    options module defines (``mode``, ``update_mode``, ...), checked as a tracker would.
    """
    values = {name: node.get_parameter(name).value for name in PARAMETER_NAMES}
    check_choice("parameter image_transport", values["image_transport"], IMAGE_TRANSPORTS)
    check_tracker_parameters(values)
    return values
