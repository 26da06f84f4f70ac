"""Where does type evidence live? Probe heads on each encoder tap vs the model's own decoder.

The benchmark's models separate instruments from tissue but not the seven types
(reports/synthetic/REPORT.md). This trains, from the same random initialisation and for the
same number of steps on the same frames (no augmentation, segmentation loss only):

- ``decoder``: the model's own Skip-scSE decoder over all encoder taps (what the model does);
- ``tap<k>``: a small probe head (two 3x3 conv-BN-ReLU of 32 channels, the second dilated,
  a 1x1 to the classes, bilinear upsampling) on encoder tap ``k`` alone, encoder trained too;

- ``decoder[...]`` variants (``--decoders``): the decoder with AP-MTL's transposed head and
  skips reduced to a quarter (``before``: the tiny model's stride-2 tap then passes 2 channels),
  and with the ``bilinear`` head and the skip floor (``bilinear``: what tiny/light use now);
- ``pixel MLP``: three 1x1 convs on the RGB input (no context at all), learnt;

and prints, per variant, the share of true instrument pixels predicted as instrument
(``recall``) and, among those, the share with the right type (``type_acc``; chance 1/7).
A colour-only baseline (nearest mean RGB of each type) shows what the pixels alone carry.

    .venv/bin/python scripts/probe_features.py config/models/tiny.yaml DATA --steps 150
    .venv/bin/python scripts/probe_features.py config/models/tiny.yaml DATA --steps 200 \
        --taps --decoders before bilinear --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import dataclasses

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from surg_perception.config import load_spec
from surg_perception.data import collate_clips
from surg_perception.models.decoders import skip_scse_decoder
from surg_perception.models.registry import build_model
from surg_perception.training.batch import frame_inputs
from surg_perception.training.config import load_train_config
from surg_perception.training.data import build_clips
from surg_perception.training.losses import task_losses


def _conv(cin: int, cout: int, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=dilation, dilation=dilation, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class TapProbe(nn.Module):
    """Encoder (trained) -> tap ``k`` -> probe head -> ``[B, classes, H, W]`` logits."""

    def __init__(self, model: nn.Module, tap: int, channels: int, classes: int) -> None:
        super().__init__()
        self.model, self.tap = model, tap
        self.head = nn.Sequential(_conv(channels, 32), _conv(32, 32, 2), nn.Conv2d(32, classes, 1))

    def forward(self, images: Tensor) -> Tensor:
        logits = self.head(self.model.encoder.trunk(images).taps[self.tap])
        return nn.functional.interpolate(logits, size=images.shape[-2:], mode="bilinear")


class OwnDecoder(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: Tensor) -> Tensor:
        return self.model(images)[0].seg_logits


def _counts(logits: Tensor, masks: Tensor) -> tuple[int, int, int]:
    pred, inst = logits.argmax(1), masks > 0
    found = inst & (pred > 0)
    return int((pred[found] == masks[found]).sum()), int(found.sum()), int(inst.sum())


def train_probe(net: nn.Module, loader: DataLoader, spec, steps: int, lr: float) -> str:
    """Train ``net`` for ``steps`` clip batches; scores over the last quarter of the steps."""
    net.train()
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    right = found = truth = step = 0
    while step < steps:
        for batch in loader:
            loss = torch.zeros(())
            for t in range(batch.images.shape[1]):
                images, targets = frame_inputs(batch, t, spec, torch.device("cpu"), False)
                logits = net(images)
                loss = loss + task_losses(_Seg(logits), targets, None, (0.1, 0.2))["seg"]
                if step >= steps * 3 // 4:
                    r, f, n = _counts(logits.detach(), targets.masks)
                    right, found, truth = right + r, found + f, truth + n
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            if step >= steps:
                break
    return f"recall {found / max(truth, 1):.3f}  type_acc {right / max(found, 1):.3f}"


@dataclasses.dataclass
class _Seg:
    """The one field of ModelOutput that the segmentation loss reads."""

    seg_logits: Tensor
    det_logits: None = None
    activity_logits: None = None
    hog: None = None
    part_logits: None = None


def colour_baseline(loader: DataLoader, batches: int = 60) -> str:
    """Nearest mean RGB per type, fitted on half of the instrument pixels, scored on the rest."""
    pixels, labels = [], []
    for index, batch in enumerate(loader):
        keep = batch.masks.reshape(-1) > 0
        pixels.append(batch.images.reshape(-1, 3).float()[keep])
        labels.append(batch.masks.reshape(-1)[keep])
        if index + 1 == batches:
            break
    x, y = torch.cat(pixels), torch.cat(labels)
    half = len(x) // 2
    types = [int(c) for c in y[:half].unique()]
    means = torch.stack([x[:half][y[:half] == c].mean(0) for c in types])
    pred = torch.tensor(types)[torch.cdist(x[half:], means).argmin(1)]
    return f"type_acc {float((pred == y[half:]).float().mean()):.3f}"


def decoder_variant(spec, variant: str, seed: int) -> nn.Module:
    """The model with the decoder of ``variant`` ("before": AP-MTL's transposed head and skips
    reduced to a quarter, as the CPU configurations had; "bilinear": the head they use now)."""
    head = "transposed" if variant == "before" else "bilinear"
    model_cfg = dataclasses.replace(spec.model, decoder_head=head)
    floor = skip_scse_decoder.SKIP_FLOOR
    skip_scse_decoder.SKIP_FLOOR = 1 if variant == "before" else floor  # the quarter rule alone
    try:
        torch.manual_seed(seed)
        return OwnDecoder(build_model(model_cfg))
    finally:
        skip_scse_decoder.SKIP_FLOOR = floor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_config")
    parser.add_argument("data", help="EndoVis 2017-layout training data (e.g. synth output)")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--taps", type=int, nargs="*", default=[0, 1, 2, 3, 4])
    parser.add_argument("--decoders", nargs="*", default=[], choices=["before", "bilinear"],
                        help="decoder variants to train besides the configured one")
    parser.add_argument("--seeds", type=int, nargs="*", default=[0],
                        help="initialisation seeds of the decoder variants")
    args = parser.parse_args()
    torch.set_num_threads(1)
    spec = load_spec(args.model_config)
    cfg = dataclasses.replace(load_train_config("config/train/demo.yaml"), augment=False)
    clips = build_clips(args.data, spec, cfg)

    def loader() -> DataLoader:
        return DataLoader(clips, batch_size=2, shuffle=True, collate_fn=collate_clips,
                          generator=torch.Generator().manual_seed(0))

    classes = len(spec.model.seg_classes)
    print(f"colour only: {colour_baseline(loader())}", flush=True)
    torch.manual_seed(0)
    decoder = OwnDecoder(build_model(spec.model))
    print(f"decoder:     {train_probe(decoder, loader(), spec, args.steps, args.lr)}", flush=True)
    for variant in args.decoders:
        for seed in args.seeds:
            scores = train_probe(decoder_variant(spec, variant, seed), loader(), spec,
                                 args.steps, args.lr)
            print(f"decoder[{variant}] seed {seed}: {scores}", flush=True)
    if args.decoders:
        torch.manual_seed(0)
        pixel = nn.Sequential(nn.Conv2d(3, 32, 1), nn.BatchNorm2d(32), nn.ReLU(),
                              nn.Conv2d(32, 32, 1), nn.BatchNorm2d(32), nn.ReLU(),
                              nn.Conv2d(32, classes, 1))
        print(f"pixel MLP:   {train_probe(pixel, loader(), spec, args.steps, args.lr)}",
              flush=True)
    size = torch.zeros(1, 3, *spec.preprocess.input_size)
    for tap in args.taps:
        torch.manual_seed(0)
        model = build_model(spec.model)
        channels = model.encoder.trunk(size).taps[tap].shape[1]
        probe = TapProbe(model, tap, channels, classes)
        scores = train_probe(probe, loader(), spec, args.steps, args.lr)
        print(f"tap{tap} ({channels} ch): {scores}", flush=True)


if __name__ == "__main__":
    main()
