"""Frame integration, the frames cache, the two model layouts and the event augmentation."""
from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from spikemask.data import get_dataset
from spikemask.data.events.augment import NDA, random_cutout, random_roll
from spikemask.data.events.formats import make_events
from spikemask.data.events.frames import frame_index, integrate
from spikemask.errors import SpikemaskError

import events_files as ef


def _events(rng, n: int, height: int = 20, width: int = 30) -> np.ndarray:
    return make_events(**ef.random_events(rng, n, height, width))


def _loop_integrate(events, sensor, n, split_by, size):
    """Reference: one event at a time."""
    (H, W), frames = sensor, np.zeros((n, 2, size, size), np.int64)
    t0, t1 = int(events["t"].min()), int(events["t"].max())
    for i, (t, x, y, p) in enumerate(events[["t", "x", "y", "p"]].tolist()):
        j = i * n // len(events) if split_by == "number" else (t - t0) * n // (t1 - t0 + 1)
        frames[j, p, y * size // H, x * size // W] += 1
    return frames


@pytest.mark.parametrize("split_by", ["number", "time"])
def test_integrate_matches_per_event_loop(split_by):
    events = _events(np.random.default_rng(0), 997)
    got = integrate(events, (20, 30), 7, split_by, size=10)
    np.testing.assert_array_equal(got, _loop_integrate(events, (20, 30), 7, split_by, 10))


def test_frame_sums_equal_assigned_events_and_number_split_is_even():
    events = _events(np.random.default_rng(1), 1003)
    for split_by in ("number", "time"):
        frames = integrate(events, (20, 30), 9, split_by)
        assigned = np.bincount(frame_index(events["t"], 9, split_by), minlength=9)
        np.testing.assert_array_equal(frames.sum(axis=(1, 2, 3)), assigned)
        assert frames.sum() == len(events) and frames.shape == (9, 2, 20, 30)
    counts = integrate(events, (20, 30), 9, "number").sum(axis=(1, 2, 3))
    assert counts.max() - counts.min() <= 1


def test_time_split_uses_equal_windows_and_polarity_channels():
    events = make_events(t=np.array([100, 150, 199, 200, 299, 300, 399]), x=np.zeros(7), y=np.zeros(7),
                         p=np.array([1, 0, 1, 1, 0, 0, 1]))
    frames = integrate(events, (4, 4), 3, "time")  # windows of (399 - 100 + 1) / 3 = 100 µs
    np.testing.assert_array_equal(frames[:, :, 0, 0], [[1, 2], [1, 1], [1, 1]])  # [frame, (OFF, ON)]


def test_downsampling_bins_pixels_and_drops_events_outside_the_sensor():
    events = make_events(t=np.arange(4), x=np.array([0, 127, 64, 200]), y=np.array([0, 127, 10, 5]),
                         p=np.array([1, 1, 0, 1]))
    frames = integrate(events, (128, 128), 1, size=32)
    assert frames.sum() == 3 and frames[0, 1, 0, 0] == 1 and frames[0, 1, 31, 31] == 1 and frames[0, 0, 2, 16] == 1
    with pytest.raises(SpikemaskError, match="up-sample in the model"):
        integrate(events, (128, 128), 1, size=256)
    with pytest.raises(SpikemaskError, match="integer >= 1"):
        integrate(events, (128, 128), 0)
    assert integrate(events[:0], (128, 128), 3, "time").sum() == 0


def _cifar_root(tmp_path, events_per_file: int, files: int = 2):
    rng = np.random.default_rng(2)
    for i in range(files):
        ev = ef.random_events(rng, events_per_file, 128, 128)
        ef.write_aedat2(tmp_path / "data" / "dog" / f"cifar10_dog_{i}.aedat", ef.cifar10dvs_addresses(ev), ev["t"])
    return str(tmp_path / "data")


def test_cached_load_is_at_least_10x_faster(tmp_path):
    root = _cifar_root(tmp_path, events_per_file=300_000, files=1)
    ds = get_dataset("cifar10dvs", root=root, train=True, frames=4, img_size=32, cache_dir=str(tmp_path / "c")).dataset
    start = time.perf_counter()
    first = ds.frames(0)  # decode + integrate + write the cache
    t_first = time.perf_counter() - start
    t_cached = []
    for _ in range(5):
        start = time.perf_counter()
        cached = ds.frames(0)
        t_cached.append(time.perf_counter() - start)
    np.testing.assert_array_equal(cached, first)
    assert ds.cache.path(ds.sample_key(0)).is_file() and (ds.cache.folder / "settings.json").is_file()
    assert t_first >= 10 * min(t_cached), (t_first, t_cached)


def test_cache_is_keyed_by_settings_and_file(tmp_path):
    root = _cifar_root(tmp_path, events_per_file=300)
    make = lambda **kw: get_dataset("cifar10dvs", root=root, cache_dir=str(tmp_path / "c"), **kw).dataset  # noqa: E731
    a, b = make(frames=4), make(frames=4, split_by="time")
    assert a.cache.folder != b.cache.folder and a.cache.folder == make(frames=4).cache.folder
    a.frames(0)
    path = a.samples[0].path
    key = a.sample_key(0)
    path.write_bytes(path.read_bytes()[:-8 * 100])  # the raw file changes: the cached frames must not be used
    assert a.sample_key(0) != key and a.frames(0).sum() == 200


def test_layouts_and_dataspec(tmp_path):
    root = _cifar_root(tmp_path, events_per_file=500)
    opts = dict(root=root, frames=5, img_size=48, augment=False, cache_dir=str(tmp_path / "c"))
    time_spec = get_dataset("cifar10dvs", layout="time", **opts)
    chan_spec = get_dataset("cifar10dvs", layout="channels", **opts)
    assert (time_spec.in_channels, time_spec.img_size, time_spec.time_steps, time_spec.num_classes) == (2, 48, 5, 10)
    assert (chan_spec.in_channels, chan_spec.img_size, chan_spec.time_steps) == (10, 48, None)
    x_t, label = time_spec.dataset[0]
    x_c, _ = chan_spec.dataset[0]
    assert x_t.shape == (5, 2, 48, 48) and x_t.dtype == torch.float32 and label == 5
    assert x_c.shape == (10, 48, 48) and torch.equal(x_c[2 * 3 + 1], x_t[3, 1])  # channel 2j + c
    batch = next(iter(torch.utils.data.DataLoader(time_spec.dataset, batch_size=2)))[0]
    assert batch.shape == (2, 5, 2, 48, 48)  # [B, T, C, H, W]; the trainer makes it time-major
    bad_options = ((dict(layout="pixels"), "layout"), (dict(split_by="count"), "split_by"),
                   (dict(img_size=129), "size"))
    for bad, msg in bad_options:
        with pytest.raises(SpikemaskError, match=msg):
            get_dataset("cifar10dvs", **{**opts, **bad})


def test_nda_keeps_shape_and_counts():
    torch.manual_seed(0)
    x = torch.zeros(4, 2, 32, 32)
    x[:, :, 10:20, 5:15] = torch.randint(1, 4, (4, 2, 10, 10)).float()
    outs = [NDA(roll=0, degrees=0, shear=0, cutout=0)(x) for _ in range(20)]  # flip only
    assert all(torch.equal(o, x) or torch.equal(o, x.flip(-1)) for o in outs)
    assert any(torch.equal(o, x) for o in outs) and any(torch.equal(o, x.flip(-1)) for o in outs)
    assert random_roll(x, 5).sum() == x.sum()
    cut = random_cutout(x, 8)
    assert cut.sum() <= x.sum() and (cut <= x).all()
    for _ in range(20):
        y = NDA()(x)
        assert y.shape == x.shape and (y >= 0).all() and torch.equal(y, y.round())  # nearest interpolation
    with pytest.raises(SpikemaskError, match=">= 0"):
        NDA(degrees=-1)


def test_training_split_is_augmented_and_test_split_is_not(tmp_path):
    root = _cifar_root(tmp_path, events_per_file=2000, files=10)
    opts = dict(root=root, frames=2, img_size=32, cache_dir=str(tmp_path / "c"))
    train, test = (get_dataset("cifar10dvs", train=t, **opts).dataset for t in (True, False))
    assert isinstance(train.transform, NDA) and train.transform.flip and test.transform is None
    torch.manual_seed(0)
    assert any(not torch.equal(train[0][0], torch.from_numpy(train.frames(0)).float()) for _ in range(5))
    assert torch.equal(test[0][0], torch.from_numpy(test.frames(0)).float())
