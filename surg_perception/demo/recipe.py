"""``make demo``'s recipe: the synthetic training set, the held-out video and the model.

Training: generator seed 0, sequences 1..40 at 320x256; video: seed 7, sequence 1 at 640x512.
The generator draws every sequence from ``SeedSequence([seed, k])``, so no video frame is a
training frame. Data and model are cached under the work folder, keyed by the generator's
code and the configurations, and rebuilt when either changes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
import time

# The package's own generator code (installed or not): a new generator means new data.
SYNTH_CODE = Path(__file__).resolve().parents[1] / "data"
# The tiny model sees 96x128 whatever the frame size, so training frames are written small
# (cheap to write and read); the video is shown at a camera-like size. Sizes are explicit:
# the generator's own default is not the demo's business.
# Many short sequences generalise better than a few long ones (more scenes, same frames).
TRAIN_SET = {"sequences": 40, "frames": 12, "size": (320, 256), "seed": 0}
VIDEO_SIZE, VIDEO_SEED = (640, 512), 7


def log(text: str) -> None:
    print(f"[demo] {text}", flush=True)


def generator_key() -> str:
    """Hash of the synthetic generator's code: a new generator means new data and model."""
    digest = hashlib.sha256()
    for path in sorted(SYNTH_CODE.glob("synth*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:8]


def synth_data(root: Path, name: str, sequences: int, frames: int, size: tuple[int, int],
               seed: int, stereo: bool = False) -> Path:
    """A synthetic dataset under ``root``, reused when the same recipe was written before;
    ``stereo`` adds the right eye (``right_frames``) and the rig in the manifest."""
    from surg_perception.data.synth import SynthConfig, write_synth_dataset

    width, height = size
    out = root / (f"{name}-{sequences}x{frames}-{width}x{height}-seed{seed}"
                  f"{'-stereo' if stereo else ''}-{generator_key()}")
    if not (out / "manifest.json").exists():
        log(f"writing {sequences} synthetic{' stereo' if stereo else ''} sequence(s) x "
            f"{frames} frames at {width}x{height} (seed {seed}) -> {out}")
        write_synth_dataset(out, SynthConfig(sequences=sequences, frames=frames,
                                             size=(width, height), seed=seed, stereo=stereo))
    return out


def demo_checkpoint(work: Path, model_cfg: Path, train_cfg: Path) -> Path:
    """The cached demo model; trained on the fly (tiny model, CPU) when absent."""
    recipe = model_cfg.read_bytes() + train_cfg.read_bytes() + repr(TRAIN_SET).encode()
    key = hashlib.sha256(recipe + generator_key().encode()).hexdigest()[:12]
    ckpt = work / "cache" / f"demo-{key}.pt"
    if ckpt.exists():
        log(f"using cached demo model {ckpt}")
        return ckpt
    from surg_perception.config import load_spec
    from surg_perception.training.config import load_train_config
    from surg_perception.training.trainer import Trainer

    data = synth_data(work, "train-data", **TRAIN_SET)
    run_dir = work / "cache" / f"train-{key}"
    log(f"no cached model: training the tiny model on {data} (CPU, about two minutes)")
    start = time.perf_counter()
    trainer = Trainer(load_spec(model_cfg), load_train_config(train_cfg), data, run_dir,
                      resume=(run_dir / "checkpoints" / "last.pt").exists())
    trainer.fit()
    (run_dir / "model.pt").replace(ckpt)
    log(f"trained in {time.perf_counter() - start:.1f} s -> {ckpt}")
    return ckpt


def load_video(root: Path, spec) -> list:
    """The video's frames with ground truth (:class:`FrameSample`), in camera pixels.

    ``crop="none"``: the node publishes its mask for the whole camera frame, so the truth
    must cover the whole frame too; the mask kind (type ids) is the model's.
    """
    from surg_perception.data.endovis17 import EndoVis17Dataset, mask_target

    dataset = EndoVis17Dataset(root, [1], target=mask_target(spec), frame_size=None,
                               crop="none")
    return [dataset[i] for i in range(len(dataset))]


def load_right_eye(root: Path) -> tuple[list, tuple[dict, dict]]:
    """The stereo video's right frames (RGB, sequence 1) and both eyes' camera_info records."""
    import json

    from surg_perception.data.io import list_frames, read_rgb

    cams = json.loads((root / "manifest.json").read_text(encoding="utf-8"))["cameras"]
    frames = [read_rgb(p) for p in list_frames(root / "instrument_dataset_1" / "right_frames")]
    return frames, (cams["left"], cams["right"])
