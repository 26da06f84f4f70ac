"""Datasets (EndoVis 2017/2018, VQLA activities, synthetic videos), clips and augmentation.

Loaders return raw uint8 frames, uint8 masks and pixel boxes (:class:`FrameSample`);
normalisation for the network lives in ``surg_perception.processing.preprocess``.
"""

from surg_perception.data.clips import ClipBatch, ClipDataset, collate_clips
from surg_perception.data.endovis17 import EndoVis17Dataset, fold_sequences
from surg_perception.data.endovis18 import EndoVis18Dataset
from surg_perception.data.sample import FrameSample, SequenceDataset
from surg_perception.data.synth import SynthConfig, write_synth_dataset
from surg_perception.data.transforms import train_augmentation

__all__ = ["ClipBatch", "ClipDataset", "EndoVis17Dataset", "EndoVis18Dataset", "FrameSample",
           "SequenceDataset", "SynthConfig", "collate_clips", "fold_sequences",
           "train_augmentation", "write_synth_dataset"]
