"""Is the activity readable from what the model computes? Linear probes on held-out frames.

The benchmark's models predict one activity for every held-out frame
(reports/synthetic/REPORT.md). This fits a linear softmax classifier (full batch, Adam, weight
decay) on per-frame vectors of the training sequences and scores it on the held-out ones:

- ``frame``: the frame average of the stride-32 map after the temporal memory (what the
  activity head reads, ``model.activity_pool: frame``);
- ``instruments``: that map averaged over the predicted instrument pixels
  (``activity_pool: instruments``);
- ``thumbnail``: the network input averaged to 6x8 (colour layout, no learnt feature);
- ``difference``: the thumbnail minus the previous frame's (motion, crudely).

Train accuracy far above held-out accuracy means the vectors identify training frames but
carry no activity cue that transfers to unseen sequences.

    PYTHONPATH=. .venv/bin/python scripts/probe_activity.py runs/synthetic/tiny/train/model.pt \
        runs/synthetic/train_data runs/synthetic/test_data
"""

from __future__ import annotations

import argparse
import dataclasses

import torch
from torch import Tensor
import torch.nn.functional as F
from torch.utils.data import DataLoader

from surg_perception.checkpoint import load_model
from surg_perception.data import collate_clips
from surg_perception.training.batch import frame_inputs
from surg_perception.training.config import load_train_config
from surg_perception.training.data import build_clips

PROBES = (("frame",), ("instruments",), ("frame", "instruments"), ("thumbnail",),
          ("thumbnail", "difference"))


def frame_vectors(model, spec, root: str) -> tuple[dict[str, Tensor], Tensor]:
    """Per-frame vectors of every whole sequence under ``root`` (memory carried along it).

    The model runs as in inference (``model(images, state)``); a forward hook on its
    activity head takes what the head is given: the map after the memory and the
    segmentation logits.
    """
    cfg = dataclasses.replace(load_train_config("config/train/demo.yaml"), augment=False,
                              clip_length=16, clip_stride=16)
    vectors: dict[str, list[Tensor]] = {name: [] for name in
                                        ("frame", "instruments", "thumbnail", "difference")}
    seen: dict[str, Tensor] = {}
    model.activity_head.register_forward_hook(
        lambda _module, args, _out: seen.update(deep=args[0], seg=args[1]))
    labels = []
    for batch in DataLoader(build_clips(root, spec, cfg), batch_size=1,
                            collate_fn=collate_clips):
        state = previous = None
        for t in range(batch.images.shape[1]):
            images, targets = frame_inputs(batch, t, spec, torch.device("cpu"), False)
            with torch.no_grad():
                _, state = model(images, state)
            deep, seg = seen["deep"], seen["seg"]
            weight = F.adaptive_avg_pool2d(1 - seg.softmax(1)[:, :1], deep.shape[-2:])
            thumb = F.adaptive_avg_pool2d(images, (6, 8)).flatten(1)
            vectors["frame"].append(deep.mean((2, 3)))
            vectors["instruments"].append((deep * weight).sum((2, 3))
                                          / (weight.sum((2, 3)) + 1e-3))
            vectors["thumbnail"].append(thumb)
            vectors["difference"].append(thumb - (thumb if previous is None else previous))
            previous = thumb
            labels.append(targets.activity)
    return {k: torch.cat(v) for k, v in vectors.items()}, torch.cat(labels)


def linear_probe(train: Tensor, y_train: Tensor, test: Tensor, y_test: Tensor,
                 classes: int) -> tuple[float, float]:
    """(train accuracy, held-out accuracy) of a softmax regression on standardised vectors."""
    mean, std = train.mean(0), train.std(0) + 1e-6
    train, test = (train - mean) / std, (test - mean) / std
    torch.manual_seed(0)
    linear = torch.nn.Linear(train.shape[1], classes)
    optimizer = torch.optim.Adam(linear.parameters(), lr=1e-2, weight_decay=1e-3)
    for _ in range(500):
        loss = F.cross_entropy(linear(train), y_train)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return tuple(float((linear(x).argmax(1) == y).float().mean())
                     for x, y in ((train, y_train), (test, y_test)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("train_data")
    parser.add_argument("test_data")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model, spec = load_model(args.checkpoint)
    train, y_train = frame_vectors(model, spec, args.train_data)
    test, y_test = frame_vectors(model, spec, args.test_data)
    majority = float((y_test == torch.bincount(y_train).argmax()).float().mean())
    print(f"frames: {len(y_train)} training, {len(y_test)} held-out; the training set's most "
          f"frequent activity is {majority:.3f} of the held-out frames")
    classes = len(spec.model.activity_classes)
    for keys in PROBES:
        fit, held = linear_probe(torch.cat([train[k] for k in keys], 1), y_train,
                                 torch.cat([test[k] for k in keys], 1), y_test, classes)
        print(f"{' + '.join(keys):24s} train {fit:.3f}  held-out {held:.3f}", flush=True)


if __name__ == "__main__":
    main()
