"""Frozen configuration dataclasses; YAML is read only at the edges (``load_spec``).

A :class:`ModelSpec` is everything needed to rebuild a network and to feed it the way
it was trained: geometry (:class:`ModelConfig`), preprocessing and post-processing.
It travels inside every checkpoint, so the node, the bag tools and evaluation never
guess how to preprocess a frame (no train/serve skew).
"""

from __future__ import annotations

from collections.abc import Mapping
import dataclasses
from pathlib import Path
import types
import typing
from typing import Any

from surg_perception.classes import ACTIVITIES, ENDOVIS17_INSTRUMENT_TYPES
from surg_perception.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class MemoryConfig:
    """DMNet dual memory on the deepest shared feature (paper defaults: tau=4, n=4)."""

    enabled: bool = True
    tau: int = 4  # local memory: number of previous frames (ELA)
    n: int = 4  # global memory: entries read per step (AGA)
    capacity: int = 16  # global memory bank size (oldest admitted entry evicted first)
    alpha: float = -0.08  # admit if confidence (= -mean entropy) > alpha
    beta: float = -4.65  # admit if -euclidean_distance(feature, latest admitted) < beta
    key_channels: int = 32  # low-channel keys
    value_channels: int = 128  # high-channel values
    lstm_bottleneck: int = 64  # BottleneckLSTM bottleneck / hidden channels
    seed: int = 0  # global-memory sampling seed (reproducible runs)


@dataclasses.dataclass(frozen=True)
class DetectionConfig:
    """SSD prior-box geometry (pure geometry: no thresholds, no learning rates).

    Every size is relative to the input's shorter side: a value ``v`` means ``v /
    scale_reference`` of it. ``scale_reference`` 1 (default) reads the values as fractions;
    1024 reads them as pixels of a 1024-pixel side (how AP-MTL publishes its SSD sizes), still
    scaling with the input. Fields added after the first checkpoints default to the old
    geometry (no extra shapes, reference 1), so old spec dicts load unchanged.
    """

    enabled: bool = True
    # SSD's s_k, one per feature map; max_scales give the extra sqrt(s_k * s'_k) prior.
    min_scales: tuple[float, ...] = (0.07, 0.15, 0.33, 0.51, 0.69, 0.87)
    max_scales: tuple[float, ...] = (0.15, 0.33, 0.51, 0.69, 0.87, 1.05)
    aspect_ratios: tuple[tuple[float, ...], ...] = (
        (2.0,), (2.0, 3.0), (2.0, 3.0), (2.0, 3.0), (2.0,), (2.0,))
    variances: tuple[float, float] = (0.1, 0.2)
    clip_priors: bool = True
    # Per map, (w, h) prior shapes chosen for the data's boxes, appended to the SSD shapes of
    # each cell (`surg-perception model-info CONFIG --prior-coverage DATA --suggest`).
    # Empty = SSD shapes only; otherwise one (possibly empty) list per map.
    extra_shapes: tuple[tuple[tuple[float, float], ...], ...] = ()
    scale_reference: float = 1.0  # unit of the scales and shapes (see the docstring)


@dataclasses.dataclass(frozen=True)
class HogConfig:
    """HOG auxiliary regression target (training only; the head is absent at inference)."""

    enabled: bool = True
    image_size: tuple[int, int] = (64, 64)  # (H, W) the input is resized to before HOG
    orientations: int = 9
    pixels_per_cell: int = 16
    cells_per_block: int = 2


@dataclasses.dataclass(frozen=True)
class EndoArssConfig:
    """EndoARSS family: DINOv2-style ViT + LoRA + TESLA adapters + SMA."""

    vit_size: str = "small"  # "tiny" (tests), "small", "base"
    patch_size: int = 14
    lora_rank: int = 4
    adapter_rank: int = 4
    sma_patch: int = 2
    aspp_channels: int = 128


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Network geometry. ``channel_widths`` overrides layer widths after pruning."""

    name: str = "apmtl_vgg16"
    family: str = "apmtl"  # "apmtl" | "endoarss"
    encoder: str = "vgg16_ssd"  # "vgg16_ssd" | "mobilenet_v2"
    width_mult: float = 1.0  # scales every encoder width (tiny CPU configs use < 1)
    decoder_channels: int = 64
    # stride 2 -> input size: "transposed" (AP-MTL) | "bilinear" (logits upsampled; the CPU
    # configurations: models/decoders/skip_scse_decoder.py says why)
    decoder_head: str = "transposed"
    # (layer name, output channels) pairs: the pruned channel spec. Empty = unpruned.
    channel_widths: tuple[tuple[str, int], ...] = ()
    seg_classes: tuple[str, ...] = ENDOVIS17_INSTRUMENT_TYPES
    det_classes: tuple[str, ...] = ENDOVIS17_INSTRUMENT_TYPES[1:]  # no background here
    activity_classes: tuple[str, ...] = ACTIVITIES
    activity_pool: str = "frame"  # "frame" (AP-MTL) | "instruments": models/heads/activity_head.py
    # EndoVis 2017 part segmentation: a second head on the decoder's last features. Empty = no
    # part head; else background first, e.g. [background, shaft, wrist, claspers] (the ids of
    # the loaders' part masks, data/endovis17.py PART_CLASSES).
    part_classes: tuple[str, ...] = ()
    memory: MemoryConfig = MemoryConfig()
    detection: DetectionConfig = DetectionConfig()
    hog: HogConfig = HogConfig()
    endoarss: EndoArssConfig | None = None

    def widths(self) -> dict[str, int]:
        return dict(self.channel_widths)


# PreprocessConfig.crop values; the rules are in processing/crop.py.
CROP_POLICIES = ("endovis17", "black_border", "none")


@dataclasses.dataclass(frozen=True)
class PreprocessConfig:
    """How a uint8 camera frame becomes the network input (training and serving alike).

    crop -> reorder channels to ``color_order`` -> antialiased bilinear resize to
    ``input_size``, rounded to uint8 -> ``(x / 255 - mean) / std``
    (``processing/crop.py``, ``processing/resize.py``, ``processing/preprocess.py``).
    """

    input_size: tuple[int, int] = (1024, 1280)  # (H, W), each divisible by 32
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)  # RGB, on [0, 1]
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    color_order: str = "rgb"  # channel order the network was trained on
    # "endovis17": 1920x1080 -> 1280x1024 at (320, 28), other sizes whole (what the EndoVis17
    # loader does); "black_border": detect the black frame; "none": whole frame.
    crop: str = "endovis17"
    border_threshold: int = 10  # black_border: a row/column is border below this intensity

    def __post_init__(self) -> None:
        if self.crop not in CROP_POLICIES:
            raise ConfigError(
                f"preprocess.crop must be one of {CROP_POLICIES}, got {self.crop!r}")


@dataclasses.dataclass(frozen=True)
class PostprocessConfig:
    """Detection decoding, instance typing and box-fill; every field may change live in the node.

    Fields added after the first checkpoints (``instance_typing``, ``instance_cover``,
    ``instance_boxes``, ``instance_box_min_area``) take their defaults when an old spec dict
    lacks them; the node's ROS parameters do not cover
    them yet (they come from the checkpoint).
    """

    score_threshold: float = 0.3
    nms_threshold: float = 0.45
    top_k: int = 200  # candidates per class before NMS
    max_detections: int = 50
    box_fill: bool = True
    # Boxes at or above this confidence fill their pixels and may decide an instrument's type.
    box_fill_threshold: float = 0.5
    # One type per predicted instrument (processing/instance_typing.py), before box-fill.
    instance_typing: bool = True
    instance_cover: float = 0.5  # share of an instrument a confident box must hold to type it
    # Publish a box per segmented instrument too (processing/instance_boxes.py).
    instance_boxes: bool = False
    instance_box_min_area: float = 0.001  # share of the frame; smaller components give no box


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """Everything a checkpoint needs to describe itself."""

    model: ModelConfig = ModelConfig()
    preprocess: PreprocessConfig = PreprocessConfig()
    postprocess: PostprocessConfig = PostprocessConfig()


# --------------------------------------------------------------------------- dict <-> dataclass


def _upgrade_preprocess(data: Mapping[str, Any]) -> dict[str, Any]:
    """Map the pre-``crop`` field of old checkpoints/YAML: ``crop_black_border`` (bool).

    ``True`` -> ``"black_border"``. ``False`` -> ``"endovis17"``: such models were trained
    through the EndoVis17 loader, which always applied that crop, so it is the view they
    learnt (the old node skipped it: the train/serve skew this field replaces).
    """
    data = dict(data)
    if "crop_black_border" in data:
        legacy = data.pop("crop_black_border")
        if "crop" in data:
            raise ConfigError("preprocess: give crop only (crop_black_border is its old form)")
        if not isinstance(legacy, bool):
            raise ConfigError(f"preprocess.crop_black_border: expected bool, got {legacy!r}")
        data["crop"] = "black_border" if legacy else "endovis17"
    return data


# Initialisation files once stored in the architecture: (where, key) -> their training-config key.
MOVED_INIT_PATHS = {("model", "pretrained_path"): "train.pretrained_path",
                    ("model.endoarss", "backbone_weights"): "train.backbone_weights"}


def _moved_init_path(where: str, key: str) -> Any:
    """Drop a moved initialisation path when null; refuse one that names a file."""

    def upgrade(data: Mapping[str, Any]) -> dict[str, Any]:
        data = dict(data)
        if data.pop(key, None) is not None:
            raise ConfigError(
                f"{where}.{key} moved to {MOVED_INIT_PATHS[(where, key)]} (the training config, "
                "e.g. config/train/*.yaml): an initialisation file is not part of the model, so "
                f"checkpoints do not store it; delete it from {where}: and set it under train:")
        return data

    return upgrade


# Class -> function renaming fields that older checkpoints and YAML files still carry.
_LEGACY_FIELDS = {
    PreprocessConfig: _upgrade_preprocess,
    ModelConfig: _moved_init_path("model", "pretrained_path"),
    EndoArssConfig: _moved_init_path("model.endoarss", "backbone_weights"),
}


def to_dict(obj: Any) -> Any:
    """Plain dict/list form of a config (YAML- and ``weights_only``-checkpoint-safe)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (tuple, list)):
        return [to_dict(v) for v in obj]
    return obj


def from_dict(cls: type, data: Mapping[str, Any] | None, where: str = "") -> Any:
    """Build dataclass ``cls`` from a mapping, rejecting unknown keys with the valid ones."""
    data = {} if data is None else data
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"{where or cls.__name__}: expected a mapping, got {type(data).__name__}")
    if cls in _LEGACY_FIELDS:
        data = _LEGACY_FIELDS[cls](data)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"{where or cls.__name__}: unknown key(s) {unknown}; valid keys: {sorted(fields)}"
        )
    hints = typing.get_type_hints(cls)
    kwargs = {
        name: _coerce(hints[name], value, f"{where or cls.__name__}.{name}")
        for name, value in data.items()
    }
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where or cls.__name__}: {exc}") from exc


def _coerce(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, where)
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, where)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
        if len(args) != len(value):
            raise ConfigError(f"{where}: expected {len(args)} values, got {len(value)}")
        return tuple(_coerce(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint in (int, str, bool) and not isinstance(value, hint):
        raise ConfigError(f"{where}: expected {hint.__name__}, got {value!r}")
    if hint is int and isinstance(value, bool):
        raise ConfigError(f"{where}: expected int, got {value!r}")
    return value


def spec_from_dict(data: Mapping[str, Any]) -> ModelSpec:
    return from_dict(ModelSpec, data, "spec")


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping, turning every failure into a :class:`ConfigError`."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def load_spec(path: str | Path) -> ModelSpec:
    """Load a :class:`ModelSpec` from a YAML file with keys model/preprocess/postprocess.

    Other top-level keys (e.g. ``train``, ``prune``) belong to other configs and are ignored
    here, so one experiment file can hold them all.
    """
    data = load_yaml(path)
    known = {f.name for f in dataclasses.fields(ModelSpec)}
    try:
        return spec_from_dict({k: v for k, v in data.items() if k in known})
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
