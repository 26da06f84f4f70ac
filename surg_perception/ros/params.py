"""The node's parameters: declarations with descriptors, a frozen settings view, validation.

Three kinds of parameter (the kind is stated in every description):
- ``live``: thresholds and overlay options; applied to the next frame, validated by the
  set-parameters callback (a bad value is rejected with the reason).
- ``configure``: checkpoint, device, QoS, topics, publish flags, memory... They are applied by
  the next ``configure`` transition, so the callback accepts them only while the node is
  unconfigured and otherwise rejects them with "run cleanup first". They are NOT ROS
  ``read_only``: a bad checkpoint path must be fixable without restarting the process
  (``set_parameters`` then ``configure`` again).
- ``launch``: ``autostart``, used once at start-up; ``read_only``.
Defaults live here and in ``config/apmtl.yaml`` (kept equal by a test).

Post-processing parameters (``detection.*``) default to :data:`UNSET` / :data:`UNSET_FLAG`:
the checkpoint's ``spec.postprocess`` value, the one ``evaluate`` measured. A value set by the
user replaces it; setting the sentinel again returns to the checkpoint's value.
"""

from __future__ import annotations

from collections.abc import Mapping
import dataclasses
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
)

from surg_perception.backends import BACKENDS
from surg_perception.errors import ConfigError

LIVE, CONFIGURE, LAUNCH = "live", "configure", "launch"
QOS_PROFILES = ("sensor_data", "reliable", "best_effort")
DTYPES = ("fp32", "fp16", "bf16")
OUTPUTS = ("mask", "part_mask", "mask_color", "overlay", "detections", "activity", "scene",
           "instruments", "instrument_markers")
UNSET = -1.0  # a threshold parameter left at this value means "the checkpoint's value"
UNSET_FLAG = "checkpoint"  # the same for a switch (detection.box_fill: true | false | this)
STEREO_BATCH = ("auto", "true", "false")
_PUBLISH_NOTES = {"part_mask": " (only for a model with a part head: model.part_classes)"}


@dataclasses.dataclass(frozen=True)
class ParamSpec:
    name: str
    default: Any
    kind: str
    description: str
    range: tuple[float, float] | None = None
    choices: tuple[str, ...] = ()
    unset: Any = None  # sentinel accepted besides ``range``: the checkpoint's value
    # A choice of "true"/"false" may arrive as a bool: ``-p x:=true`` and YAML read it so.
    bool_choices: bool = False


_SPECS = (
    ParamSpec("model.checkpoint", "", CONFIGURE, "surg_perception checkpoint file (.pt)"),
    ParamSpec("model.device", "auto", CONFIGURE, "auto (cuda if available) | cpu | cuda | cuda:N"),
    ParamSpec("model.dtype", "fp32", CONFIGURE, "inference precision (fp16/bf16 need CUDA)",
              choices=DTYPES),
    ParamSpec("model.backend", "eager", CONFIGURE,
              "network runtime (onnxruntime/tensorrt export once, cached next to the "
              "checkpoint)", choices=BACKENDS),
    ParamSpec("model.warmup_steps", 2, CONFIGURE, "black frames run at configure", (0, 100)),
    ParamSpec("input.image_topic", "image", CONFIGURE,
              "sensor_msgs/Image input (relative names follow the namespace; empty = off)"),
    ParamSpec("input.compressed_topic", "image/compressed", CONFIGURE,
              "sensor_msgs/CompressedImage input (empty = off)"),
    ParamSpec("input.qos", "sensor_data", CONFIGURE, "input QoS profile", choices=QOS_PROFILES),
    ParamSpec("input.qos_depth", 5, CONFIGURE, "input history depth", (1, 1000)),
    ParamSpec("input.max_image_pixels", 4096 * 4096, CONFIGURE,
              "larger frames are rejected (width * height)", (1, 2**31 - 1)),
    ParamSpec("output.qos", "reliable", CONFIGURE,
              "output QoS profile (reliable also serves best-effort subscribers)",
              choices=QOS_PROFILES),
    ParamSpec("output.qos_depth", 5, CONFIGURE, "output history depth", (1, 1000)),
    ParamSpec("output.lazy", True, LIVE,
              "build only the outputs that have a subscriber (false: every enabled output, "
              "every frame)"),
    *(ParamSpec(f"publish.{name}", True, CONFIGURE, f"publish ~/{name}" + _PUBLISH_NOTES.get(
        name, "")) for name in OUTPUTS),
    ParamSpec("detection.score_threshold", UNSET, LIVE,
              "minimum detection score; -1 = the checkpoint's", (0.0, 1.0), unset=UNSET),
    ParamSpec("detection.nms_threshold", UNSET, LIVE,
              "NMS IoU threshold; -1 = the checkpoint's", (0.0, 1.0), unset=UNSET),
    ParamSpec("detection.box_fill", UNSET_FLAG, LIVE,
              "fill confident boxes into the mask: true | false | checkpoint (its value)",
              unset=UNSET_FLAG),
    ParamSpec("detection.instance_boxes", UNSET_FLAG, LIVE,
              "publish a box per segmented instrument too: true | false | checkpoint (its "
              "value)", unset=UNSET_FLAG),
    ParamSpec("overlay.alpha", 0.5, LIVE, "colour-mask weight in the overlay", (0.0, 1.0)),
    ParamSpec("overlay.draw_labels", True, LIVE, "class names, scores and activity text"),
    ParamSpec("overlay.show_fps", True, LIVE, "frame rate text"),
    ParamSpec("instruments.stale_after_s", 0.2, LIVE,
              "instruments older than this (image stamp to publish, node clock) are marked "
              "stale; 0 = never", (0.0, 3600.0)),
    ParamSpec("stereo.enabled", False, CONFIGURE,
              "subscribe left/image_raw + right/image_raw and their camera_info (relative, "
              "remappable) instead of image: 3D tool tips"),
    ParamSpec("stereo.slop_s", 0.01, CONFIGURE,
              "left and right images pair when their stamps differ by at most this", (0.0, 1.0)),
    ParamSpec("stereo.max_wait_s", 0.1, CONFIGURE,
              "a left image waits at most this for its right one, then goes on mono (no 3D)",
              (0.0, 10.0)),
    ParamSpec("stereo.batch", "auto", CONFIGURE,
              "both eyes in one batched forward (true) or one step per eye (false); auto: "
              "batched on CUDA, one step per eye on the CPU (faster there at useful sizes)",
              choices=STEREO_BATCH, bool_choices=True),
    ParamSpec("memory.override", False, CONFIGURE,
              "replace the checkpoint's memory tau/n/alpha/beta with the values below"),
    ParamSpec("memory.tau", 4, CONFIGURE, "local memory: previous frames (ELA)", (1, 64)),
    ParamSpec("memory.n", 4, CONFIGURE, "global memory: entries read per step (AGA)", (1, 64)),
    ParamSpec("memory.alpha", -0.08, CONFIGURE, "global memory admission: confidence threshold"),
    ParamSpec("memory.beta", -4.65, CONFIGURE, "global memory admission: novelty threshold"),
    ParamSpec("memory.reset_gap_s", 1.0, LIVE,
              "reset the memory when frames are further apart than this (0 = never)",
              (0.0, 3600.0)),
    ParamSpec("threads.torch", 0, CONFIGURE,
              "torch intra-op threads (0 = auto: OMP_NUM_THREADS, else the CPUs but one)",
              (0, 1024)),
    ParamSpec("threads.executor", 0, LAUNCH, "executor threads (0 = auto: 2, 4 above 4 CPUs)",
              (0, 64)),
    ParamSpec("autostart", False, LAUNCH, "configure and activate at start-up"),
    ParamSpec("autostart_wait", False, LAUNCH,
              "with autostart, keep running after a failed configure (default: exit 1)"),
)
SPECS: dict[str, ParamSpec] = {spec.name: spec for spec in _SPECS}


@dataclasses.dataclass(frozen=True)
class NodeSettings:
    """All parameter values, flattened (``model.checkpoint`` -> ``model_checkpoint``)."""

    model_checkpoint: str
    model_device: str
    model_dtype: str
    model_backend: str
    model_warmup_steps: int
    input_image_topic: str
    input_compressed_topic: str
    input_qos: str
    input_qos_depth: int
    input_max_image_pixels: int
    output_qos: str
    output_qos_depth: int
    output_lazy: bool
    publish_mask: bool
    publish_part_mask: bool
    publish_mask_color: bool
    publish_overlay: bool
    publish_detections: bool
    publish_activity: bool
    publish_scene: bool
    publish_instruments: bool
    publish_instrument_markers: bool
    detection_score_threshold: float  # UNSET: the checkpoint's
    detection_nms_threshold: float  # UNSET: the checkpoint's
    detection_box_fill: bool | str  # UNSET_FLAG: the checkpoint's
    detection_instance_boxes: bool | str  # UNSET_FLAG: the checkpoint's
    overlay_alpha: float
    overlay_draw_labels: bool
    overlay_show_fps: bool
    instruments_stale_after_s: float
    stereo_enabled: bool
    stereo_slop_s: float
    stereo_max_wait_s: float
    stereo_batch: str | bool  # STEREO_BATCH, or a bool for "true"/"false"
    memory_override: bool
    memory_tau: int
    memory_n: int
    memory_alpha: float
    memory_beta: float
    memory_reset_gap_s: float
    threads_torch: int
    threads_executor: int
    autostart: bool
    autostart_wait: bool

    def publishes(self, output: str) -> bool:
        return bool(getattr(self, f"publish_{output}"))


def field_name(param: str) -> str:
    return param.replace(".", "_")


def descriptor(spec: ParamSpec) -> ParameterDescriptor:
    """ROS descriptor: description (with kind and choices), range, read_only for launch."""
    text = f"[{spec.kind}] {spec.description}"
    if spec.choices:
        text += f"; one of {', '.join(spec.choices)}"
    # A switch with a "checkpoint" sentinel holds a bool or that string; so does a
    # true/false/... choice (the command line and YAML turn "true" into a bool).
    dynamic = isinstance(spec.unset, str) or spec.bool_choices
    desc = ParameterDescriptor(description=text, read_only=spec.kind == LAUNCH,
                               dynamic_typing=dynamic)
    if spec.range is not None and isinstance(spec.default, float):
        # ROS ranges are intervals: include the sentinel; check_settings rejects the gap.
        low = spec.range[0] if spec.unset is None else min(spec.unset, spec.range[0])
        desc.floating_point_range = [FloatingPointRange(
            from_value=float(low), to_value=float(spec.range[1]), step=0.0)]
    elif spec.range is not None:
        desc.integer_range = [IntegerRange(
            from_value=int(spec.range[0]), to_value=int(spec.range[1]), step=1)]
    return desc


def declare_parameters(node: Any) -> None:
    """Declare every parameter on ``node`` (overrides from the command line/YAML apply)."""
    for spec in _SPECS:
        node.declare_parameter(spec.name, spec.default, descriptor(spec))


def settings_from_values(values: Mapping[str, Any]) -> NodeSettings:
    """Build and validate settings from ``{param name: value}`` (missing -> default)."""
    kwargs = {field_name(name): values.get(name, spec.default) for name, spec in SPECS.items()}
    settings = NodeSettings(**kwargs)
    check_settings(settings)
    return settings


def read_settings(node: Any) -> NodeSettings:
    """The node's current parameter values as validated :class:`NodeSettings`."""
    return settings_from_values({name: node.get_parameter(name).value for name in SPECS})


def check_settings(settings: NodeSettings) -> None:
    """Raise :class:`ConfigError` naming the first invalid value and the valid ones."""
    for name, spec in SPECS.items():
        value = getattr(settings, field_name(name))
        if spec.unset is not None and value == spec.unset:
            continue
        if spec.bool_choices and isinstance(value, bool):
            value = str(value).lower()
        if spec.choices and value not in spec.choices:
            raise ConfigError(
                f"parameter {name}={value!r} is invalid; use one of {list(spec.choices)}")
        unset = "" if spec.unset is None else f" or {spec.unset!r} (the checkpoint's value)"
        if spec.range is not None and not spec.range[0] <= value <= spec.range[1]:
            raise ConfigError(f"parameter {name}={value!r} is outside "
                              f"[{spec.range[0]}, {spec.range[1]}]{unset}")
        if isinstance(spec.unset, str) and not isinstance(value, bool):
            raise ConfigError(f"parameter {name}={value!r} is invalid; use true, false{unset}")
    if not settings.input_image_topic and not settings.input_compressed_topic:
        raise ConfigError("both input.image_topic and input.compressed_topic are empty; set one")


def check_update(current: Mapping[str, Any], updates: Mapping[str, Any], state: str) -> str:
    """Reason to reject a set-parameters request, or ``""`` to accept it.

    ``current`` holds every parameter's value, ``updates`` the new ones, ``state`` the
    lifecycle state label (``unconfigured``, ``inactive``, ``active``, ...).
    """
    for name in updates:
        spec = SPECS.get(name)
        if spec is None:
            continue  # e.g. use_sim_time: rclpy's own
        if spec.kind == CONFIGURE and state != "unconfigured":
            first = "cleanup" if state == "inactive" else "deactivate and cleanup"
            return (f"{name} is applied at configure and the node is {state}: "
                    f"{first} first, then set it and configure again")
    try:
        settings_from_values({**current, **updates})
    except (ConfigError, TypeError) as exc:
        return str(exc)
    return ""


def qos_profile(name: str, depth: int) -> QoSProfile:
    """``sensor_data`` (best effort, volatile), ``reliable`` or ``best_effort``; keep last."""
    reliability = {
        "sensor_data": ReliabilityPolicy.BEST_EFFORT,
        "best_effort": ReliabilityPolicy.BEST_EFFORT,
        "reliable": ReliabilityPolicy.RELIABLE,
    }.get(name)
    if reliability is None:
        raise ConfigError(f"unknown QoS profile {name!r}; use one of {list(QOS_PROFILES)}")
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=reliability,
                      durability=DurabilityPolicy.VOLATILE)


def latched_qos() -> QoSProfile:
    """LabelInfo: like CameraInfo-style metadata, kept for late subscribers (depth 1)."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                      reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL)
