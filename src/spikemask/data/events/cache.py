"""On-disk cache of integrated frames, and parallel preparation of a whole split.

The cache folder is ``--cache DIR`` (option ``cache_dir``), else ``$SPIKEMASK_CACHE``, else
``$XDG_CACHE_HOME/spikemask`` (``~/.cache/spikemask``). Frames live in
``frames/<dataset>-<hash of the settings>/`` (the settings are also written there as ``settings.json``),
one file per sample named by a hash of the sample's file, time window, size and modification time,
so editing a raw file or changing any setting never returns stale frames. Files are written
atomically, so parallel workers and interrupted runs are safe.
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from tqdm import tqdm

from spikemask.io import load_torch, save_torch, write_json

CACHE_VERSION = 1  # bump when the integration changes, to invalidate old caches


def cache_root(override: str | os.PathLike | None = None) -> Path:
    """The cache folder: ``override``, else ``$SPIKEMASK_CACHE``, else ``$XDG_CACHE_HOME/spikemask``."""
    if override:
        return Path(override).expanduser()
    if os.environ.get("SPIKEMASK_CACHE"):
        return Path(os.environ["SPIKEMASK_CACHE"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "spikemask"


def _digest(obj: Any, length: int) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:length]


class FrameCache:
    """Frames ``[n, 2, S, S]`` of one dataset under one setting, one file per sample."""

    def __init__(self, root: str | os.PathLike | None, settings: dict[str, Any]) -> None:
        """``settings`` must name the dataset (key ``"dataset"``) and everything the frames depend on."""
        self.folder = cache_root(root) / "frames" / f"{settings['dataset']}-{_digest([CACHE_VERSION, settings], 12)}"
        self.settings = settings

    def path(self, sample_key: str) -> Path:
        """The file that holds (or will hold) the frames of the sample identified by ``sample_key``."""
        return self.folder / f"{_digest(sample_key, 24)}.pt"

    def load(self, sample_key: str) -> np.ndarray | None:
        """The cached frames, or ``None`` if they are not cached yet."""
        path = self.path(sample_key)
        return load_torch(path, "cached frames").numpy() if path.is_file() else None

    def save(self, sample_key: str, frames: np.ndarray) -> None:
        """Store ``frames`` (non-negative counts) in the smallest unsigned integer type that holds them."""
        if not (self.folder / "settings.json").is_file():
            write_json(self.folder / "settings.json", self.settings)
        small = frames.astype(np.min_scalar_type(int(frames.max(initial=0))))
        save_torch(self.path(sample_key), torch.from_numpy(small))


class Preparable(Protocol):
    """What :func:`prepare` needs: a sized dataset whose ``frames(i)`` integrates (and caches) sample ``i``."""

    def __len__(self) -> int: ...
    def frames(self, i: int) -> np.ndarray: ...


_WORKER_DATASET: Preparable | None = None  # set in each worker process by _init_worker


def _init_worker(dataset: Preparable) -> None:
    global _WORKER_DATASET
    _WORKER_DATASET = dataset
    torch.set_num_threads(1)


def _prepare_one(i: int) -> int:
    return int(_WORKER_DATASET.frames(i).sum())


def prepare(dataset: Preparable, workers: int = 1, desc: str = "frames", progress: bool = True) -> int:
    """Integrate and cache every sample of ``dataset`` with ``workers`` processes; returns the event count.

    Samples go to the workers in contiguous chunks, so recordings that hold several samples
    (DVS Gesture) are decoded once per chunk.
    """
    n = len(dataset)
    bar = tqdm(total=n, desc=desc, unit="sample", disable=not progress, leave=False)
    total = 0
    if workers <= 1:
        for i in range(n):
            total += int(dataset.frames(i).sum())
            bar.update()
    else:
        chunk = max(1, min(64, n // (4 * workers)))
        with multiprocessing.Pool(workers, initializer=_init_worker, initargs=(dataset,)) as pool:
            for count in pool.imap(_prepare_one, range(n), chunksize=chunk):
                total += count
                bar.update()
    bar.close()
    return total
