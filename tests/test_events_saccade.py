"""The simulated-saccade N-MNIST (``nmnist_sim``) built from the bundled MNIST."""
from __future__ import annotations

import time

import numpy as np
import pytest

from spikemask.data import get_dataset, static
from spikemask.data.events.saccade import SACCADE_US, SENSOR, SimulatedEvents, simulate_saccades


@pytest.fixture(scope="module")
def mnist():
    return static.load_mnist_arrays()


def test_simulation_is_deterministic_and_dvs_like(mnist):
    images, labels = mnist[0][:40], mnist[1][:40]
    a, b = SimulatedEvents.generate(images, labels, seed=0), SimulatedEvents.generate(images, labels, seed=0)
    c = SimulatedEvents.generate(images, labels, seed=1)
    assert all(np.array_equal(getattr(a, k), getattr(b, k)) for k in ("t", "x", "y", "p", "offsets"))
    assert not np.array_equal(a.t, c.t)
    counts = np.diff(a.offsets)
    assert counts.min() > 300 and counts.max() < 6000
    for i in range(len(images)):
        ev = a.sample(i)
        assert (np.diff(ev["t"]) >= 0).all() and 0 <= ev["t"].min() and ev["t"].max() < 3 * SACCADE_US
        assert ev["x"].max() < SENSOR and ev["y"].max() < SENSOR and set(np.unique(ev["p"])) == {0, 1}
    np.testing.assert_array_equal(a.labels, labels)


def test_blank_image_gives_no_events():
    rng = np.random.default_rng(0)
    out = simulate_saccades(np.zeros((2, 28, 28), np.uint8), np.full((SENSOR, SENSOR), 0.6, np.float32), rng)
    assert len(out["t"]) == 0


def test_generation_is_fast_enough(mnist):
    start = time.perf_counter()
    SimulatedEvents.generate(mnist[0][:500], mnist[1][:500])
    per_image = (time.perf_counter() - start) / 500
    assert per_image * 10_000 < 120, f"10,000 images would take {per_image * 10_000:.0f} s"


def test_nmnist_sim_dataset_split_cache_and_layouts(tmp_path, monkeypatch, mnist):
    n = 50
    monkeypatch.setattr(static, "load_mnist_arrays", lambda: (mnist[0][:n], mnist[1][:n]))
    monkeypatch.setattr(static, "mnist_split", lambda train: np.array([i for i in range(n) if (i % 5 != 0) == train]))
    spec = get_dataset("nmnist_sim", root=str(tmp_path), train=True, frames=6)
    assert (spec.num_classes, spec.in_channels, spec.img_size, spec.time_steps) == (10, 2, 34, 6)
    assert len(spec.dataset) == 40 and list(tmp_path.glob("nmnist_sim-v*-seed0-n50.npz"))
    x, label = spec.dataset[0]
    assert x.shape == (6, 2, 34, 34) and label == mnist[1][1]
    monkeypatch.setattr(SimulatedEvents, "generate", lambda *a, **k: pytest.fail("should load the cached events"))
    saccade_cache = tmp_path / "again"
    saccade_cache.mkdir()
    for f in tmp_path.glob("*.npz"):
        (saccade_cache / f.name).write_bytes(f.read_bytes())
    test = get_dataset("nmnist_sim", root=str(saccade_cache), train=False, layout="channels", frames=6, augment=False)
    assert len(test.dataset) == 10 and test.in_channels == 12 and test.time_steps is None
    assert test.dataset[0][0].shape == (12, 34, 34) and test.dataset.labels[0] == mnist[1][0]


def test_bundled_split_is_8000_2000():
    assert len(static.mnist_split(True)) == 8000 and len(static.mnist_split(False)) == 2000
