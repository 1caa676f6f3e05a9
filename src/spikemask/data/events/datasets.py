"""The event-camera datasets, registered with :func:`spikemask.data.register_dataset`.

Each is read from its published folder layout under ``root`` (nothing is downloaded):

=========== ================= ======================================== ======= ======= ===========
name        dataset           files under ``root``                     classes W×H     split
=========== ================= ======================================== ======= ======= ===========
nmnist      N-MNIST           ``Train/<digit>/*.bin``, ``Test/...``    10      34×34   official
ncaltech101 N-Caltech101      ``Caltech101/<class>/*.bin``             101     240×180 9:1 / class
cifar10dvs  CIFAR10-DVS       ``airplane/*.aedat`` … ``truck/*.aedat`` 10      128×128 9:1 / class
dvsgesture  DVS128 Gesture    ``DvsGesture/`` trials + labels CSVs     11      128×128 official
ncars       N-Cars            ``n-cars_{train,test}/<class>/*.dat``    2       120×100 official
asldvs      ASL-DVS           ``a/*.mat`` … ``y/*.mat`` (no j)         24      240×180 4:1 / class
actionrecog Action Recog.     ``<action>/*.aedat``                     10      346×260 4:1 / class
nmnist_sim  simulated N-MNIST none (bundled MNIST, :mod:`.saccade`)    10      34×34   MNIST i % 5
=========== ================= ======================================== ======= ======= ===========

Per-class splits take, per class, the first ``ceil(f · count)`` files in sorted name order as the
training part (SpikingJelly's protocol, which Spikformer uses for CIFAR10-DVS), or a seeded shuffle
with ``split_seed``. Options of every dataset: ``frames`` (n, default 16), ``split_by`` (``"number"``
or ``"time"``), ``img_size`` (frame side S; defaults: the sensor side, 128 for the larger or
non-square sensors, 100 for N-Cars), ``layout`` (``"time"`` → ``[n, 2, S, S]``, ``"channels"`` →
``[2n, S, S]``), ``augment`` (NDA on the training split; no flip where left and right differ in
meaning), ``cache_dir`` (frames cache) and ``split_seed``.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path
from typing import Callable

import numpy as np

from spikemask.data.events.augment import NDA
from spikemask.data.events.cache import cache_root
from spikemask.data.events.dataset import RecordedDataset, Sample, per_class_split
from spikemask.data.events.formats import (
    read_aedat31,
    read_asl_mat,
    read_atis_bin,
    read_cifar10dvs,
    read_davis346,
    read_prophesee_dat,
)
from spikemask.data.events.saccade import DIGITS, SENSOR, SimulatedEvents, SimulatedNMNIST
from spikemask.data.registry import DataSpec, register_dataset, require_root
from spikemask.errors import SpikemaskError, check

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
GESTURES = ("hand clap", "right hand wave", "left hand wave", "right arm clockwise",
            "right arm counter clockwise", "left arm clockwise", "left arm counter clockwise", "arm roll",
            "air drums", "air guitar", "other gestures")  # labels 1-11 in the CSV files
ASL_LETTERS = tuple("abcdefghiklmnopqrstuvwxy")  # j and z need motion and are not in ASL-DVS


@dataclass(frozen=True)
class Source:
    """How one dataset is stored: where its files are, how to read them and how it is split."""

    name: str
    title: str
    sensor: tuple[int, int]  # (H, W)
    size: int  # default frame side
    flip: bool  # whether a horizontal flip keeps the class
    reader: Callable[[Path], np.ndarray]
    fraction: float | None  # training fraction of a per-class split; None: the official split
    hint: str  # where the files go
    folder: str | tuple[str, str] = ""  # sub-folder of root holding the class folders; (train, test) if split
    suffix: str = ""
    classes: tuple[str, ...] | None = None  # None: the sorted sub-folder names
    find: Callable[[Source, Path, bool], list[Sample]] | None = None  # for layouts not one folder per class

    def missing(self, what: Path) -> SpikemaskError:
        return SpikemaskError(f"{self.title} files not found: {what} is missing; {self.hint}")

    def class_names(self, root: Path) -> tuple[str, ...]:
        """The class names (label = index)."""
        if self.classes is not None:
            return self.classes
        folder = root / self.folder
        if not folder.is_dir():
            raise self.missing(folder)
        return tuple(sorted(d.name for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".")))

    def samples(self, root: Path, train: bool) -> list[Sample]:
        """All samples of the official split ``train``, or all samples if the split is per class."""
        if self.find is not None:
            return self.find(self, root, train)
        folder = root / (self.folder if isinstance(self.folder, str) else self.folder[0 if train else 1])
        if not folder.is_dir():
            raise self.missing(folder)
        samples = [Sample(f, label) for label, name in enumerate(self.class_names(root))
                   for f in sorted((folder / name).glob(f"*{self.suffix}"))]
        if not samples:
            raise SpikemaskError(f"no {self.title} {self.suffix} files under {folder}; {self.hint}")
        return samples


def _gesture_samples(source: Source, root: Path, train: bool) -> list[Sample]:
    """DVS128 Gesture: the trials listed in ``trials_to_{train,test}.txt``, one sample per labelled gesture.

    Each ``userNN_<lighting>.aedat`` has ``userNN_<lighting>_labels.csv`` with rows
    ``class,startTime_usec,endTime_usec`` (class 1-11); a sample is the events in [start, end).
    """
    folder = root / "DvsGesture"
    trials = folder / f"trials_to_{'train' if train else 'test'}.txt"
    if not trials.is_file():
        raise source.missing(trials)
    samples = []
    for name in trials.read_text().split():
        aedat, csv = folder / name, folder / f"{Path(name).stem}_labels.csv"
        for path in (aedat, csv):
            if not path.is_file():
                raise source.missing(path)
        try:
            rows = np.loadtxt(csv, delimiter=",", skiprows=1, dtype=np.int64, ndmin=2)
        except ValueError as e:
            raise SpikemaskError(f"{csv} is not a class,startTime_usec,endTime_usec table ({e})") from None
        check(rows.size == 0 or (rows.shape[1] == 3 and rows[:, 0].min() >= 1 and rows[:, 0].max() <= 11),
              f"{csv} must have rows class,startTime_usec,endTime_usec with class 1-11")
        samples += [Sample(aedat, int(c) - 1, int(start), int(end)) for c, start, end in rows]
    return samples


SOURCES = [
    Source("nmnist", "N-MNIST", (34, 34), 34, False, read_atis_bin, None,
           "unzip Train.zip and Test.zip so that ROOT/Train/0/*.bin and ROOT/Test/0/*.bin exist",
           folder=("Train", "Test"), suffix=".bin", classes=DIGITS),
    Source("ncaltech101", "N-Caltech101", (180, 240), 128, True, read_atis_bin, 0.9,
           "unzip Caltech101.zip so that ROOT/Caltech101/<class>/*.bin exist", folder="Caltech101", suffix=".bin"),
    Source("cifar10dvs", "CIFAR10-DVS", (128, 128), 128, True, read_cifar10dvs, 0.9,
           "unzip the ten class archives so that ROOT/airplane/*.aedat … ROOT/truck/*.aedat exist",
           suffix=".aedat", classes=CIFAR10_CLASSES),
    Source("dvsgesture", "DVS128 Gesture", (128, 128), 128, False, read_aedat31, None,
           "extract DvsGesture.tar.gz so that ROOT/DvsGesture/trials_to_train.txt, trials_to_test.txt and "
           "the user*.aedat and user*_labels.csv files exist", classes=GESTURES, find=_gesture_samples),
    Source("ncars", "N-Cars", (100, 120), 100, True, read_prophesee_dat, None,
           "unzip n-cars_train.zip and n-cars_test.zip so that ROOT/n-cars_train/cars/*.dat and "
           "ROOT/n-cars_test/background/*.dat exist",
           folder=("n-cars_train", "n-cars_test"), suffix=".dat", classes=("background", "cars")),
    Source("asldvs", "ASL-DVS", (180, 240), 128, False, read_asl_mat, 0.8,
           "unzip the letter archives so that ROOT/a/*.mat … ROOT/y/*.mat exist", suffix=".mat", classes=ASL_LETTERS),
    Source("actionrecog", "Action Recognition", (260, 346), 128, True, read_davis346, 0.8,
           "put the recordings as ROOT/<action>/*.aedat, one folder per action", suffix=".aedat"),
]


def build(source: Source, root: str | None = None, train: bool = True, frames: int = 16, split_by: str = "number",
          img_size: int | None = None, layout: str = "time", augment: bool = True, cache_dir: str | None = None,
          split_seed: int | None = None) -> DataSpec:
    """The train or test split of ``source``'s dataset under ``root`` (options: see the module docstring)."""
    path = require_root(root, source.name, source.hint)
    check(split_seed is None or source.fraction is not None,
          f"{source.name} has an official train/test split; drop split_seed")
    samples = source.samples(path, train)
    if source.fraction is not None:
        keep = per_class_split([s.label for s in samples], train, source.fraction, split_seed)
        samples = [samples[i] for i in keep]
    ds = RecordedDataset(source.name, source.sensor, source.class_names(path), samples, source.reader,
                         frames=frames, split_by=split_by, size=source.size if img_size is None else img_size,
                         layout=layout, transform=NDA(flip=source.flip) if train and augment else None,
                         cache_dir=cache_dir)
    return ds.spec()


for _source in SOURCES:
    register_dataset(_source.name)(partial(build, _source))
EVENT_DATASETS = ("nmnist_sim", *(s.name for s in SOURCES))


@lru_cache(maxsize=2)  # the train and test splits share one copy of the events
def _simulated(folder: Path, seed: int) -> SimulatedEvents:
    return SimulatedEvents.cached(folder, seed)


@register_dataset("nmnist_sim")
def nmnist_sim(root: str | None = None, train: bool = True, frames: int = 16, split_by: str = "number",
               img_size: int = SENSOR, layout: str = "time", augment: bool = True, cache_dir: str | None = None,
               seed: int = 0) -> DataSpec:
    """Simulated N-MNIST from the bundled MNIST (:mod:`.saccade`); events cached in ``root`` or the cache folder."""
    folder = Path(root).expanduser() if root else cache_root(cache_dir)
    ds = SimulatedNMNIST(_simulated(folder, seed), train, frames=frames, split_by=split_by, size=img_size,
                         layout=layout, transform=NDA(flip=False) if train and augment else None)
    return ds.spec()
