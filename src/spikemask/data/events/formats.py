"""Readers for the raw event files of the supported datasets.

Every reader returns a structured array with :data:`EVENT_DTYPE`: ``t`` (µs), ``x`` (column, 0 = left),
``y`` (row, 0 = top), ``p`` (1 = ON, brightness went up; 0 = OFF), in the file's (time) order.

Decoding goes through a maintained library where it has a reader for the format (tonic for the ATIS
``.bin`` files, expelliarmus for Prophesee ``.dat``, scipy for ``.mat``); these come with the optional
extra ``pip install 'spikemask[events]'``. The jAER AEDAT 2.0 and 3.1 files are decoded with numpy.
"""
from __future__ import annotations

import importlib
from functools import lru_cache
from pathlib import Path
from types import ModuleType

import numpy as np

from spikemask.errors import SpikemaskError

EVENT_DTYPE = np.dtype([("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("p", "u1")])

_TEXT = (set(range(0x20, 0x100)) - {0x7F}) | {0x09, 0x0D}  # header bytes: text, no control codes


def make_events(t: np.ndarray, x: np.ndarray, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Pack equal-length arrays into one ``[N]`` array of :data:`EVENT_DTYPE` (``p`` is made 0/1)."""
    events = np.empty(len(t), EVENT_DTYPE)
    events["t"], events["x"], events["y"], events["p"] = t, x, y, np.asarray(p) != 0
    return events


def require(module: str, what: str) -> ModuleType:
    """Import an optional dependency, or say in one line how to install it."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError:
        raise SpikemaskError(f"reading {what} needs the optional package {module.split('.')[0]!r}; "
                             "install it with: pip install 'spikemask[events]'") from None


def _read(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise SpikemaskError(f"cannot read {path} ({e.strerror}); check the dataset folder") from None


def _skip_header(raw: bytes, marker: bytes, path: Path) -> tuple[list[bytes], int]:
    """Split off the ``#`` comment lines of a jAER file; returns the lines and the data offset.

    A line counts as header only if it holds no control bytes, so binary event data (which holds
    zero bytes) that happens to start with ``#`` is not swallowed; a line starting with ``marker``
    ends the header.
    """
    lines, pos = [], 0
    while raw.startswith(b"#", pos):
        end = raw.find(b"\n", pos)
        line = raw[pos:end]
        if end < 0 or not set(line) <= _TEXT:
            break
        lines.append(line.rstrip(b"\r"))
        pos = end + 1
        if line.startswith(marker):
            break
    if not lines or not lines[0].startswith(b"#!AER-DAT"):
        raise SpikemaskError(f"{path} has no '#!AER-DAT' header line; it is not a jAER .aedat file")
    return lines, pos


def read_aedat2(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """AEDAT 2.0 (jAER): ``#`` header lines, then big-endian ``(uint32 address, uint32 timestamp µs)`` pairs.

    Returns the raw ``addresses`` and ``timestamps`` ``[N]``; the address layout depends on the camera.
    """
    path = Path(path)
    raw = _read(path)
    lines, start = _skip_header(raw, b"#End Of ASCII Header", path)
    if not lines[0].startswith(b"#!AER-DAT2"):
        raise SpikemaskError(f"{path} is {lines[0][2:].decode()}, expected AEDAT 2.0 (AER-DAT2.0)")
    if (len(raw) - start) % 8:
        raise SpikemaskError(f"{path} is truncated (its event data is not a whole number of 8-byte events); "
                             "extract it again")
    words = np.frombuffer(raw, ">u4", offset=start).reshape(-1, 2)
    return words[:, 0], words[:, 1].astype(np.int64)


def read_cifar10dvs(path: str | Path) -> np.ndarray:
    """CIFAR10-DVS ``.aedat`` (AEDAT 2.0 from a DVS128, 128×128).

    Address bits: 0 polarity (1 = OFF), 1-7 ``a``, 8-14 ``b``. As SpikingJelly (and thus Spikformer)
    reads it, x = 127 - b, y = 127 - a, which shows the CIFAR images upright.
    """
    addr, t = read_aedat2(path)
    a, b = (addr >> 1) & 0x7F, (addr >> 8) & 0x7F
    return make_events(t, 127 - b, 127 - a, 1 - (addr & 1))


def read_davis346(path: str | Path) -> np.ndarray:
    """DAVIS346 ``.aedat`` (AEDAT 2.0, 346×260), as the Action Recognition set of Miao et al. (2019) is stored.

    Address bits (jAER DAVIS): 31 type (0 = polarity event; others, e.g. APS samples, are dropped),
    22-30 y, 12-21 raw x, 11 polarity bit, 10 external trigger. Following the dataset authors' reader,
    x = 345 - raw x and polarity = 1 - bit.
    """
    addr, t = read_aedat2(path)
    keep = (addr >> 31) == 0
    addr, t = addr[keep], t[keep]
    return make_events(t, 345 - ((addr >> 12) & 0x3FF), (addr >> 22) & 0x1FF, 1 - ((addr >> 11) & 1))


_PACKET_HEADER = np.dtype([("type", "<i2"), ("source", "<i2"), ("size", "<i4"), ("ts_offset", "<i4"),
                           ("ts_overflow", "<i4"), ("capacity", "<i4"), ("number", "<i4"), ("valid", "<i4")])
_POLARITY_EVENT = np.dtype([("data", "<u4"), ("ts", "<i4")])
POLARITY_TYPE = 1  # AEDAT 3.1 event type of polarity events


@lru_cache(maxsize=1)  # DVS Gesture reads several samples from each recording in a row
def read_aedat31(path: str | Path) -> np.ndarray:
    """AEDAT 3.1 (cAER / DVS128 Gesture): polarity events of all packets, in file order.

    After the ``#`` header (ending ``#!END-HEADER``) the file is a sequence of packets, each a 28-byte
    little-endian header (type, source, size, ts offset, ts overflow, capacity, number, valid)
    and ``capacity`` events of ``size`` bytes. A polarity event (type 1) is ``uint32 data`` (bit 0
    valid, 1 polarity, 2-16 y, 17-31 x) and ``int32 timestamp`` µs; the full time is
    ``overflow << 31 | timestamp``. Other packet types and invalid events are skipped.
    """
    path = Path(path)
    raw = _read(path)
    lines, pos = _skip_header(raw, b"#!END-HEADER", path)
    if not lines[0].startswith(b"#!AER-DAT3"):
        raise SpikemaskError(f"{path} is {lines[0][2:].decode()}, expected AEDAT 3.1 (AER-DAT3.1)")
    packets = []
    while pos + _PACKET_HEADER.itemsize <= len(raw):
        head = np.frombuffer(raw, _PACKET_HEADER, count=1, offset=pos)[0]
        pos += _PACKET_HEADER.itemsize
        size = int(head["size"]) * int(head["capacity"])
        if pos + size > len(raw):
            raise SpikemaskError(f"{path} is truncated (its last packet is incomplete); extract it again")
        if head["type"] == POLARITY_TYPE and head["size"] == _POLARITY_EVENT.itemsize:
            ev = np.frombuffer(raw, _POLARITY_EVENT, count=int(head["capacity"]), offset=pos)
            packets.append((ev, int(head["ts_overflow"])))
        pos += size
    data = np.concatenate([ev["data"] for ev, _ in packets]) if packets else np.zeros(0, np.uint32)
    t = np.concatenate([(np.int64(over) << 31) | ev["ts"] for ev, over in packets]) if packets else np.zeros(0)
    valid = (data & 1) == 1
    data, t = data[valid], t[valid]
    events = make_events(t, (data >> 17) & 0x7FFF, (data >> 2) & 0x7FFF, (data >> 1) & 1)
    events.flags.writeable = False  # shared by the cache: callers slice, never modify
    return events


def read_atis_bin(path: str | Path) -> np.ndarray:
    """N-MNIST / N-Caltech101 ``.bin``: 40-bit ATIS events, decoded by ``tonic.io.read_mnist_file``.

    Each event is 5 bytes: x (8 bits), y (8 bits), polarity (1 bit, 1 = ON), timestamp (23 bits, µs);
    tonic also applies the timestamp-overflow markers.
    """
    tonic_io = require("tonic.io", "N-MNIST/N-Caltech101 .bin files")
    ev = tonic_io.read_mnist_file(str(path), dtype=tonic_io.events_struct)
    return make_events(ev["t"], ev["x"], ev["y"], ev["p"])


def read_prophesee_dat(path: str | Path) -> np.ndarray:
    """N-Cars ``.dat`` (Prophesee DAT, decoded by expelliarmus).

    ``%`` header lines, 2 bytes (event type, event size = 8), then little-endian ``uint32 t`` µs and
    ``uint32 data`` with x in bits 0-13, y in bits 14-27, polarity in bits 28-31.
    """
    wizard = require("expelliarmus", "N-Cars .dat files").Wizard(encoding="dat")
    try:
        ev = wizard.read(str(path))
    except (RuntimeError, ValueError, OSError) as e:
        raise SpikemaskError(f"cannot decode {path} as a Prophesee .dat file ({e}); extract it again") from None
    return make_events(ev["t"], ev["x"], ev["y"], ev["p"])


ASL_HEIGHT = 180  # ASL-DVS was recorded with a DAVIS240 (240×180)


def read_asl_mat(path: str | Path) -> np.ndarray:
    """ASL-DVS ``.mat``: MATLAB arrays ``ts`` (µs), ``x``, ``y``, ``pol``, read with scipy.

    The files count y from the bottom row; as tonic does, y is flipped to count from the top.
    """
    loadmat = require("scipy.io", "ASL-DVS .mat files").loadmat
    try:
        mat = loadmat(str(path))
        t, x, y, p = (np.asarray(mat[k]).ravel() for k in ("ts", "x", "y", "pol"))
    except (KeyError, ValueError, OSError) as e:
        raise SpikemaskError(f"cannot read {path} as an ASL-DVS .mat file (needs ts, x, y, pol; {e})") from None
    return make_events(t.astype(np.int64), x, ASL_HEIGHT - 1 - y.astype(np.int64), p)
