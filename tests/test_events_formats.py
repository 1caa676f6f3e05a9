"""Each event dataset reads small files written in its real on-disk format and folder layout back exactly."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spikemask.data import get_dataset
from spikemask.data.events.formats import read_aedat2, read_aedat31, read_davis346
from spikemask.errors import SpikemaskError

import events_files as ef

Expected = dict[tuple[str, int | None], tuple[dict, int]]  # ("folder/file", window start) -> (events, label)


def _key(path: Path, start: int | None = None) -> tuple[str, int | None]:
    return f"{path.parent.name}/{path.name}", start


def _check(name: str, root: Path, expected: Expected, n_train: int, n_test: int, cache: Path,
           **options) -> list:
    """Both splits have the expected sizes, and every sample's events and label round-trip."""
    splits = []
    for train, n in ((True, n_train), (False, n_test)):
        spec = get_dataset(name, root=str(root), train=train, frames=4, augment=False, cache_dir=str(cache), **options)
        ds = spec.dataset
        assert len(ds) == n
        for i, sample in enumerate(ds.samples):
            ev, label = expected[_key(sample.path, sample.start)]
            got = ds.events(i)
            assert len(got) == len(ev["t"])
            for k in "txyp":
                np.testing.assert_array_equal(got[k], ev[k], err_msg=f"{name} {sample.path.name} field {k}")
            x, y = ds[i]
            shape = (4, 2, ds.size, ds.size) if ds.layout == "time" else (8, ds.size, ds.size)
            assert y == label and x.shape == shape and x.sum() == len(ev["t"])
        splits.append(ds)
    return splits


def _class_files(rng, root: Path, classes: list[str], per_class: int, hw: tuple[int, int], write, name) -> Expected:
    expected = {}
    for label, cls in classes:
        for i in range(per_class):
            ev = ef.random_events(rng, int(rng.integers(50, 300)), *hw)
            path = root / cls / name(cls, i)
            write(path, ev)
            expected[_key(path)] = (ev, label)
    return expected


def test_cifar10dvs_aedat2_and_sorted_name_split(tmp_path):
    rng = np.random.default_rng(0)
    expected = _class_files(rng, tmp_path / "data", [(0, "airplane"), (3, "cat")], 11, (128, 128),
                            lambda p, ev: ef.write_aedat2(p, ef.cifar10dvs_addresses(ev), ev["t"]),
                            lambda c, i: f"cifar10_{c}_{i}.aedat")
    train, test = _check("cifar10dvs", tmp_path / "data", expected, 20, 2, tmp_path / "cache")
    # per class, ceil(0.9 * 11) = 10 train files in sorted name order: "..._9" sorts last
    assert sorted(s.path.name for s in test.samples) == ["cifar10_airplane_9.aedat", "cifar10_cat_9.aedat"]
    assert train.classes[3] == "cat" and len(train.classes) == 10
    seeded = get_dataset("cifar10dvs", root=str(tmp_path / "data"), train=False, split_seed=1).dataset
    assert len(seeded) == 2


def test_actionrecog_davis346_drops_non_polarity_events(tmp_path):
    rng = np.random.default_rng(1)
    expected = {}
    for label, cls in enumerate(["arm_crossing", "walking"]):
        for i in range(5):
            ev = ef.random_events(rng, 200, 260, 346)
            addr = ef.davis346_addresses(ev)
            aps = np.full(3, (1 << 31) | (7 << 22) | (9 << 12), np.int64)  # APS samples: type bit 31 set
            t = np.concatenate([ev["t"][:1].repeat(3), ev["t"]])
            path = tmp_path / "data" / cls / f"subject{i:02d}_{cls}.aedat"
            ef.write_aedat2(path, np.concatenate([aps, addr]), t)
            expected[_key(path)] = (ev, label)
    _check("actionrecog", tmp_path / "data", expected, 8, 2, tmp_path / "cache")


def test_dvsgesture_aedat31_trials_and_label_csv(tmp_path):
    rng = np.random.default_rng(2)
    folder = tmp_path / "data" / "DvsGesture"
    expected, trials = {}, {"train": ["user01_fluorescent.aedat", "user02_led.aedat"],
                            "test": ["user24_natural.aedat"]}
    for k, name in enumerate(trials["train"] + trials["test"]):
        t0 = 2 ** 31 - 1_500_000 if k == 1 else 5_000_000  # user02 crosses the 31-bit timestamp overflow
        ev = ef.random_events(rng, 2000, 128, 128, span_us=3_000_000, t0=t0)
        ef.write_aedat31(folder / name, ev)
        rows = [(c, t0 + 200_000 + 900_000 * j, t0 + 900_000 * (j + 1)) for j, c in enumerate((1, 11, 4))]
        csv = "class,startTime_usec,endTime_usec\n" + "".join(f"{c},{s},{e}\n" for c, s, e in rows)
        (folder / name.replace(".aedat", "_labels.csv")).write_text(csv)
        for c, s, e in rows:
            keep = (ev["t"] >= s) & (ev["t"] < e)
            expected[_key(folder / name, s)] = ({f: v[keep] for f, v in ev.items()}, c - 1)
    for split, names in trials.items():
        (folder / f"trials_to_{split}.txt").write_text("\n".join(names) + "\n")
    train, _ = _check("dvsgesture", tmp_path / "data", expected, 6, 3, tmp_path / "cache")
    assert train.classes[10] == "other gestures"


def test_nmnist_atis_bin_official_split(tmp_path):
    pytest.importorskip("tonic")
    rng = np.random.default_rng(3)
    expected = {}
    for split, per_class in (("Train", 3), ("Test", 2)):
        expected |= _class_files(rng, tmp_path / "data" / split, [(0, "0"), (7, "7")], per_class, (34, 34),
                                 ef.write_atis_bin, lambda c, i, s=split: f"{s}{c}{i:05d}.bin")
    _check("nmnist", tmp_path / "data", expected, 6, 4, tmp_path / "cache")


def test_ncaltech101_atis_bin_per_class_split(tmp_path):
    pytest.importorskip("tonic")
    rng = np.random.default_rng(4)
    expected = _class_files(rng, tmp_path / "data" / "Caltech101", [(0, "BACKGROUND_Google"), (1, "airplanes")],
                            10, (180, 240), ef.write_atis_bin, lambda c, i: f"image_{i + 1:04d}.bin")
    train, _ = _check("ncaltech101", tmp_path / "data", expected, 18, 2, tmp_path / "cache")
    assert train.classes == ("BACKGROUND_Google", "airplanes")


def test_ncars_prophesee_dat(tmp_path):
    pytest.importorskip("expelliarmus")
    rng = np.random.default_rng(5)
    expected = {}
    for split, per_class in (("n-cars_train", 3), ("n-cars_test", 2)):
        expected |= _class_files(rng, tmp_path / "data" / split, [(0, "background"), (1, "cars")], per_class,
                                 (100, 120), ef.write_prophesee_dat, lambda c, i, s=split: f"obj_{s[-4:]}{i}_td.dat")
    _check("ncars", tmp_path / "data", expected, 6, 4, tmp_path / "cache", img_size=50)


def test_asldvs_mat(tmp_path):
    pytest.importorskip("scipy")
    rng = np.random.default_rng(6)
    expected = _class_files(rng, tmp_path / "data", [(0, "a"), (8, "i"), (9, "k")], 5, (180, 240),
                            ef.write_asl_mat, lambda c, i: f"{c}_{i + 1:04d}.mat")
    train, _ = _check("asldvs", tmp_path / "data", expected, 12, 3, tmp_path / "cache", layout="channels")
    assert len(train.classes) == 24 and train.classes[9] == "k"


def test_readers_reject_wrong_files(tmp_path):
    rng = np.random.default_rng(7)
    ev = ef.random_events(rng, 10, 128, 128)
    ef.write_aedat31(tmp_path / "v3.aedat", ev)
    with pytest.raises(SpikemaskError, match="expected AEDAT 2.0"):
        read_aedat2(tmp_path / "v3.aedat")
    ef.write_aedat2(tmp_path / "v2.aedat", ef.cifar10dvs_addresses(ev), ev["t"])
    with pytest.raises(SpikemaskError, match="expected AEDAT 3.1"):
        read_aedat31(tmp_path / "v2.aedat")
    (tmp_path / "cut.aedat").write_bytes((tmp_path / "v2.aedat").read_bytes()[:-3])
    with pytest.raises(SpikemaskError, match="truncated"):
        read_aedat2(tmp_path / "cut.aedat")
    ev = {k: v[:3] for k, v in ef.random_events(rng, 3, 260, 346).items()}
    ev["y"][0] = 141  # the first data byte is then b"#": it must not be taken for a header line
    ef.write_aedat2(tmp_path / "hash.aedat", ef.davis346_addresses(ev), ev["t"])
    assert ((tmp_path / "hash.aedat").read_bytes()[len(ef.AEDAT2_HEADER):][:1] == b"#"
            and read_davis346(tmp_path / "hash.aedat")["y"].tolist() == ev["y"].tolist())
    (tmp_path / "junk.aedat").write_bytes(b"\x00\x01 not an aedat file")
    with pytest.raises(SpikemaskError, match="not a jAER"):
        read_aedat2(tmp_path / "junk.aedat")


def test_missing_files_say_where_to_put_them(tmp_path):
    with pytest.raises(SpikemaskError, match="root must point at a local copy"):
        get_dataset("dvsgesture")
    with pytest.raises(SpikemaskError, match="trials_to_train.txt is missing"):
        get_dataset("dvsgesture", root=str(tmp_path))
    with pytest.raises(SpikemaskError, match=r"no CIFAR10-DVS \.aedat files"):
        get_dataset("cifar10dvs", root=str(tmp_path))
    with pytest.raises(SpikemaskError, match="official train/test split"):
        get_dataset("nmnist", root=str(tmp_path), split_seed=0)
