"""Event datasets as PyTorch datasets of frames, in either model layout.

An :class:`EventDataset` yields ``(x, label)`` where x is float event counts:

* ``layout="time"``: ``[n, 2, S, S]`` — n frames = T time steps for directly trained SNNs
  (a loader batch ``[B, T, 2, S, S]`` is transposed to time-major by the trainer);
* ``layout="channels"``: ``[2n, S, S]`` — the frames stacked into channels (frame-major:
  channel ``2j + c`` is polarity c of frame j) for ANN-to-SNN conversion models, whose first layer
  reduces the 2n channels to 3.

Subclasses supply ``events(i)``; this class integrates them (:mod:`.frames`), caches the frames on
disk where decoding is slow (:mod:`.cache`), applies the training augmentation and the layout.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from spikemask.data.events.cache import FrameCache
from spikemask.data.events.frames import SPLIT_MODES, integrate
from spikemask.data.registry import DataSpec
from spikemask.errors import check

LAYOUTS = ("time", "channels")


class EventDataset(Dataset):
    """Frames of an event dataset (see the module docstring).

    Args:
        name: registry name; sensor: ``(H, W)``; classes: class names (label = index).
        labels: label of each sample.
        frames: n, the number of frames per sample. split_by: ``"number"`` or ``"time"``.
        size: frame side S (events are binned from the sensor grid); ``None``: the sensor side
            (square sensors only).
        layout: ``"time"`` or ``"channels"``. transform: applied to ``[n, 2, S, S]`` before the layout.
        cache_dir: cache folder for subclasses that cache (see :func:`.cache.cache_root`).
    """

    use_cache = False  # subclasses whose events are slow to decode cache their frames

    def __init__(self, name: str, sensor: tuple[int, int], classes: Sequence[str], labels: Sequence[int], *,
                 frames: int = 16, split_by: str = "number", size: int | None = None, layout: str = "time",
                 transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 cache_dir: str | None = None) -> None:
        H, W = sensor
        if size is None:
            check(H == W, f"{name} has a {W}×{H} sensor; choose a square frame size (img_size=S)")
            size = H
        check(isinstance(frames, int) and frames >= 1, f"frames must be an integer >= 1, got {frames!r}")
        check(split_by in SPLIT_MODES, f"split_by must be 'number' or 'time', got {split_by!r}")
        check(layout in LAYOUTS, f"layout must be 'time' or 'channels', got {layout!r}")
        check(isinstance(size, int) and 1 <= size <= min(H, W),
              f"the frame size img_size must be an integer from 1 to {min(H, W)} for {name} "
              f"(sensor {W}×{H}), got {size!r}")
        self.name, self.sensor, self.classes, self.labels = name, (H, W), tuple(classes), list(labels)
        self.n, self.split_by, self.size, self.layout, self.transform = frames, split_by, size, layout, transform
        settings = {"dataset": name, "frames": frames, "split_by": split_by, "size": size}
        self.cache = FrameCache(cache_dir, settings) if self.use_cache else None

    def __len__(self) -> int:
        return len(self.labels)

    def events(self, i: int) -> np.ndarray:
        """Events of sample ``i`` (structured array, see :data:`.formats.EVENT_DTYPE`)."""
        raise NotImplementedError

    def sample_key(self, i: int) -> str:
        """A string that changes whenever sample ``i``'s events may change (cache key; for ``use_cache``)."""
        raise NotImplementedError

    def frames(self, i: int) -> np.ndarray:
        """Integrated frames ``[n, 2, S, S]`` (counts) of sample ``i``, from the cache when there."""
        key = self.sample_key(i) if self.cache else ""
        frames = self.cache.load(key) if self.cache else None
        if frames is None:
            frames = integrate(self.events(i), self.sensor, self.n, self.split_by, self.size)
            if self.cache:
                self.cache.save(key, frames)
        return frames

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        x = torch.from_numpy(self.frames(i).astype(np.float32))
        if self.transform is not None:
            x = self.transform(x)
        return (x if self.layout == "time" else x.flatten(0, 1)), self.labels[i]

    def spec(self) -> DataSpec:
        """The :class:`DataSpec` of this dataset; ``time_steps`` is n for ``layout="time"``, else ``None``."""
        if self.layout == "time":
            return DataSpec(self, len(self.classes), in_channels=2, img_size=self.size, time_steps=self.n)
        return DataSpec(self, len(self.classes), in_channels=2 * self.n, img_size=self.size)


@dataclass(frozen=True)
class Sample:
    """One recorded sample: a file, its label, and for files holding several samples a window in µs."""

    path: Path
    label: int
    start: int | None = None
    end: int | None = None


class RecordedDataset(EventDataset):
    """Samples read from the dataset's raw files by ``reader(path) -> events``; frames are cached."""

    use_cache = True

    def __init__(self, name: str, sensor: tuple[int, int], classes: Sequence[str], samples: Sequence[Sample],
                 reader: Callable[[Path], np.ndarray], **settings) -> None:
        super().__init__(name, sensor, classes, [s.label for s in samples], **settings)
        self.samples, self.reader = list(samples), reader

    def events(self, i: int) -> np.ndarray:
        s = self.samples[i]
        events = self.reader(s.path)
        if s.start is None:
            return events
        return events[(events["t"] >= s.start) & (events["t"] < s.end)]

    def sample_key(self, i: int) -> str:
        s = self.samples[i]
        stat = s.path.stat()
        return f"{s.path.resolve()}|{s.start}|{s.end}|{stat.st_size}|{stat.st_mtime_ns}"


def per_class_split(labels: Sequence[int], train: bool, fraction: float, seed: int | None = None) -> list[int]:
    """Indices of the train (or test) part of a per-class split.

    Per class, the first ``ceil(fraction · count)`` samples in listing order are the training part and
    the rest the test part (SpikingJelly's ``split_to_train_test_set``, used by Spikformer); with a
    ``seed``, each class is shuffled by ``numpy.random.default_rng(seed)`` first.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed) if seed is not None else None
    chosen = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        if rng is not None:
            idx = rng.permutation(idx)
        cut = math.ceil(fraction * len(idx))
        chosen.append(idx[:cut] if train else idx[cut:])
    return sorted(np.concatenate(chosen).tolist()) if chosen else []
