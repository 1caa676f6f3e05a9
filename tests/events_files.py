"""Writers of small event files in each dataset's real on-disk format (test helpers only).

Each writer takes events as arrays ``t`` (µs), ``x``, ``y``, ``p`` (1 = ON) in the convention of
:mod:`spikemask.data.events.formats` and encodes them as the dataset's published files store them, so
reading them back through the datasets must return exactly the same events.
"""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np


def random_events(rng: np.random.Generator, n: int, height: int, width: int, span_us: int = 300_000,
                  t0: int = 0) -> dict[str, np.ndarray]:
    """``n`` events with sorted timestamps in ``[t0, t0 + span_us)`` on a ``height × width`` sensor."""
    return {"t": np.sort(rng.integers(t0, t0 + span_us, n)).astype(np.int64),
            "x": rng.integers(0, width, n), "y": rng.integers(0, height, n), "p": rng.integers(0, 2, n)}


def write_atis_bin(path: Path, ev: dict) -> None:
    """N-MNIST / N-Caltech101 ``.bin``: 5 bytes per event: x, y, p<<7 | t[22:16], t[15:8], t[7:0]."""
    t = ev["t"].astype(np.int64)
    assert t.max(initial=0) < 2 ** 23
    raw = np.stack([ev["x"], ev["y"], (ev["p"] << 7) | (t >> 16), (t >> 8) & 0xFF, t & 0xFF], axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw.astype(np.uint8).tobytes())


AEDAT2_HEADER = (b"#!AER-DAT2.0\r\n# This is a raw AE data file - do not edit\r\n"
                 b"# Data format is int32 address, int32 timestamp (8 bytes total), repeated for each event\r\n"
                 b"# Timestamps tick is 1 us\r\n# created Sat Jan 07 11:24:48 CST 2017\r\n")


def write_aedat2(path: Path, addresses: np.ndarray, t: np.ndarray) -> None:
    """AEDAT 2.0: ``#`` header lines, then big-endian (uint32 address, uint32 timestamp) pairs."""
    words = np.stack([addresses.astype(np.uint32), t.astype(np.uint32)], axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(AEDAT2_HEADER + words.astype(">u4").tobytes())


def cifar10dvs_addresses(ev: dict) -> np.ndarray:
    """DVS128 addresses as CIFAR10-DVS stores them: bit 0 = 1 - p, bits 1-7 = 127 - y, bits 8-14 = 127 - x."""
    return ((127 - ev["x"]) << 8) | ((127 - ev["y"]) << 1) | (1 - ev["p"])


def davis346_addresses(ev: dict) -> np.ndarray:
    """DAVIS346 polarity-event addresses: y bits 22-30, 345 - x bits 12-21, 1 - p bit 11, type bit 31 = 0."""
    return (ev["y"] << 22) | ((345 - ev["x"]) << 12) | ((1 - ev["p"]) << 11)


def write_aedat31(path: Path, ev: dict, packet: int = 7, invalid_every: int = 5) -> None:
    """AEDAT 3.1 as DVS128 Gesture: header, then packets of polarity events (and one special-event packet).

    Timestamps above 2**31 go in the packets' ``ts_overflow`` (packets never straddle an overflow);
    every ``invalid_every``-th packet gets an extra event with its valid bit cleared.
    """
    out = [b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#Start-Time: 2017-01-01 12:00:00\r\n"
           b"#!END-HEADER\r\n"]
    header = struct.Struct("<hhiiiiii")
    out.append(header.pack(0, 1, 8, 4, 0, 1, 1, 1) + struct.pack("<Ii", 0x11, 0))  # a special event (type 0)
    overflow = ev["t"] >> 31
    cuts = sorted(set(range(0, len(overflow), packet)) | set((np.flatnonzero(np.diff(overflow)) + 1).tolist()))
    for n, (start, stop) in enumerate(zip(cuts, cuts[1:] + [len(overflow)])):
        t = ev["t"][start:stop]
        data = (ev["x"][start:stop] << 17) | (ev["y"][start:stop] << 2) | (ev["p"][start:stop] << 1) | 1
        if n % invalid_every == 0:  # an event with its valid bit cleared: must be skipped
            data, t = np.append(data, (5 << 17) | (6 << 2)), np.append(t, t[-1])
        records = np.stack([data, t & 0x7FFFFFFF], axis=1).astype("<u4")
        out.append(header.pack(1, 1, 8, 4, int(overflow[start]), len(t), len(t), len(t)) + records.tobytes())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(out))


def write_prophesee_dat(path: Path, ev: dict, width: int = 120, height: int = 100) -> None:
    """N-Cars ``.dat``: ``%`` header lines, event type and size bytes, then little-endian (uint32 t, uint32 data)."""
    header = (f"% Data file containing CD events.\n% Version 2\n% Date 2017-07-06 10:10:10\n"
              f"% Height {height}\n% Width {width}\n").encode()
    data = ev["x"] | (ev["y"] << 14) | (ev["p"] << 28)
    records = np.stack([ev["t"], data], axis=1).astype("<u4")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + bytes([0, 8]) + records.tobytes())


def write_asl_mat(path: Path, ev: dict, height: int = 180) -> None:
    """ASL-DVS ``.mat``: column vectors ``ts``, ``x``, ``y`` (counted from the bottom), ``pol``."""
    from scipy.io import savemat
    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(path, {"ts": ev["t"][:, None].astype(float), "x": ev["x"][:, None].astype(float),
                   "y": (height - 1 - ev["y"])[:, None].astype(float), "pol": ev["p"][:, None].astype(float)})
