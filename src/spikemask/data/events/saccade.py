"""``nmnist_sim``: the bundled MNIST digits turned into events by simulated saccades (offline default).

This is a **simulation**, not a recording. N-MNIST (Orchard et al., 2015) was recorded by an ATIS
camera on a pan-tilt unit that made three quick saccades in front of a monitor showing each digit.
Here the 28×28 digit moves over a 34×34 sensor along a triangle of three straight saccades of
100 ms each (top-left corner (0,0) → (3,6) → (6,0) → (0,0) pixels, sampled every 5 ms with bilinear
interpolation). Each pixel emits an event whenever its log intensity ``log(I + 0.25)`` (I in [0, 1])
has moved by its contrast threshold since its last event (ON if it rose, OFF if it fell; several
events if it moved several thresholds), like a DVS pixel. Thresholds are 0.6 with a fixed 5 %
per-pixel mismatch (one simulated sensor for all digits); timestamps (µs) are drawn uniformly inside
each 5 ms step. Generation is seeded, deterministic and vectorised over images and pixels; the
10,000 samples (about 1,750 events each) are generated once (about 15 s, plus 10 s to compress)
and cached as a compressed ``.npz`` (about 60 MB). The split is the bundled MNIST's: image ``i`` is a
test sample iff ``i % 5 == 0`` (8,000 train / 2,000 test).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from spikemask.data import static
from spikemask.data.events.dataset import EventDataset
from spikemask.data.events.formats import make_events
from spikemask.errors import SpikemaskError
from spikemask.io import atomic_write

SENSOR = 34
VERTICES = ((0.0, 0.0), (3.0, 6.0), (6.0, 0.0), (0.0, 0.0))  # (dx, dy) of the digit's top-left corner, px
SACCADE_US = 100_000
STEPS = 20  # simulation steps per saccade
THRESHOLD, MISMATCH, EPS = 0.6, 0.05, 0.25
CHUNK = 500  # images simulated together (fixed: the random stream depends on it)
SIM_VERSION = 1  # bump when the simulation changes, to invalidate cached events
DIGITS = tuple("0123456789")


def _render(images: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """Images ``[B, 28, 28]`` in [0, 1] placed at sub-pixel offset (dx, dy) on a ``[B, 34, 34]`` canvas."""
    B, h, w = images.shape
    canvas = np.zeros((B, SENSOR + 1, SENSOR + 1), np.float32)
    ix, iy = int(dx), int(dy)
    fx, fy = dx - ix, dy - iy
    for oy, wy in ((0, 1 - fy), (1, fy)):
        for ox, wx in ((0, 1 - fx), (1, fx)):
            if wy * wx > 0:
                canvas[:, iy + oy:iy + oy + h, ix + ox:ix + ox + w] += wy * wx * images
    return canvas[:, :SENSOR, :SENSOR]


def simulate_saccades(images: np.ndarray, thresholds: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Events of uint8 ``images`` ``[B, 28, 28]`` seen by a sensor with ``thresholds`` ``[34, 34]``.

    Returns flat arrays sorted by (image, time): ``image`` (int64), ``t`` (int32 µs), ``x``, ``y``,
    ``p`` (uint8).
    """
    img = images.astype(np.float32) / 255
    ref = np.log(_render(img, *VERTICES[0]) + EPS)  # log intensity at each pixel's last event
    dt = SACCADE_US // STEPS
    parts = []
    for s in range(3):
        (x0, y0), (x1, y1) = VERTICES[s], VERTICES[s + 1]
        for k in range(1, STEPS + 1):
            a = k / STEPS
            diff = np.log(_render(img, x0 + a * (x1 - x0), y0 + a * (y1 - y0)) + EPS) - ref
            count = (np.abs(diff) / thresholds).astype(np.int8)  # thresholds crossed this step
            flat = np.flatnonzero(count)
            b, y, x = np.unravel_index(flat, count.shape)
            c, up = count.ravel()[flat].astype(np.int64), diff.ravel()[flat] > 0
            ref.ravel()[flat] += np.where(up, c, -c) * thresholds[y, x]
            t = (s * STEPS + k - 1) * dt + rng.integers(0, dt, c.sum())
            parts.append((np.repeat(b, c), t, np.repeat(x, c), np.repeat(y, c), np.repeat(up, c)))
    image, t, x, y, p = (np.concatenate(a) for a in zip(*parts))
    order = np.lexsort((t, image))
    return {"image": image[order], "t": t[order].astype(np.int32), "x": x[order].astype(np.uint8),
            "y": y[order].astype(np.uint8), "p": p[order].astype(np.uint8)}


class SimulatedEvents:
    """All simulated samples: flat event arrays, ``offsets`` ``[N + 1]`` into them and ``labels`` ``[N]``."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.t, self.x, self.y, self.p = arrays["t"], arrays["x"], arrays["y"], arrays["p"]
        self.offsets, self.labels = arrays["offsets"], arrays["labels"]

    def sample(self, i: int) -> np.ndarray:
        """Events of image ``i`` (structured, see :data:`.formats.EVENT_DTYPE`)."""
        lo, hi = self.offsets[i], self.offsets[i + 1]
        return make_events(self.t[lo:hi], self.x[lo:hi], self.y[lo:hi], self.p[lo:hi])

    @classmethod
    def generate(cls, images: np.ndarray, labels: np.ndarray, seed: int = 0) -> SimulatedEvents:
        """Simulate every image ``[N, 28, 28]`` in chunks of :data:`CHUNK` (deterministic for a seed)."""
        thresholds = THRESHOLD * (1 + MISMATCH * np.random.default_rng(seed).standard_normal((SENSOR, SENSOR)))
        chunks = []
        for start in tqdm(range(0, len(images), CHUNK), desc="simulating saccades", unit="chunk", disable=None):
            rng = np.random.default_rng([seed, start])
            chunks.append(simulate_saccades(images[start:start + CHUNK], thresholds.astype(np.float32), rng))
            chunks[-1]["image"] += start
        arrays = {k: np.concatenate([c[k] for c in chunks]) for k in ("image", "t", "x", "y", "p")}
        arrays["offsets"] = np.searchsorted(arrays.pop("image"), np.arange(len(images) + 1))
        arrays["labels"] = labels.astype(np.int64)
        return cls(arrays)

    @classmethod
    def cached(cls, folder: Path, seed: int = 0) -> SimulatedEvents:
        """The simulated bundled MNIST, from ``folder`` if generated before, else generated and saved there."""
        images, labels = static.load_mnist_arrays()
        path = Path(folder) / f"nmnist_sim-v{SIM_VERSION}-seed{seed}-n{len(images)}.npz"
        if path.is_file():
            try:
                with np.load(path) as npz:
                    return cls(dict(npz))
            except (OSError, ValueError, KeyError) as e:
                raise SpikemaskError(f"{path} is corrupt ({e}); delete it to simulate again") from None
        store = cls.generate(images, labels, seed)
        arrays = {"t": store.t, "x": store.x, "y": store.y, "p": store.p, "offsets": store.offsets,
                  "labels": store.labels}
        atomic_write(path, lambda f: np.savez_compressed(f, **arrays), "wb")
        return store


class SimulatedNMNIST(EventDataset):
    """One split of ``nmnist_sim``; events come from memory, so frames are not cached on disk."""

    def __init__(self, store: SimulatedEvents, train: bool, **settings) -> None:
        self.store, self.indices = store, static.mnist_split(train)
        super().__init__("nmnist_sim", (SENSOR, SENSOR), DIGITS, store.labels[self.indices].tolist(), **settings)

    def events(self, i: int) -> np.ndarray:
        return self.store.sample(int(self.indices[i]))
