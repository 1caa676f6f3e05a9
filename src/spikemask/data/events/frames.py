"""Frame integration: an event stream becomes ``[n, 2, H, W]`` event counts.

Frame ``j`` channel ``c`` pixel ``(y, x)`` counts the events of polarity ``c`` (0 = OFF, 1 = ON) at
that pixel among the events assigned to frame ``j``. Events are assigned by count (``"number"``:
``n`` slices of equal size ±1, in stored order) or by time (``"time"``: ``n`` equal time windows from
the first to the last timestamp). Optional down-sampling bins pixels into a ``size × size`` grid.
Everything is one vectorised ``np.bincount`` over a combined index: no Python loop over events.
"""
from __future__ import annotations

import numpy as np

from spikemask.errors import check

SPLIT_MODES = ("number", "time")


def frame_index(t: np.ndarray, n: int, split_by: str) -> np.ndarray:
    """Frame ``[N]`` (0 … n-1) of each event, from timestamps ``t`` ``[N]`` (µs) in stored order."""
    check(isinstance(n, (int, np.integer)) and n >= 1, f"the number of frames must be an integer >= 1, got {n!r}")
    check(split_by in SPLIT_MODES, f"split_by must be 'number' or 'time', got {split_by!r}")
    if split_by == "number":
        return np.arange(len(t), dtype=np.int64) * n // max(len(t), 1)
    if len(t) == 0:
        return np.zeros(0, np.int64)
    t = t.astype(np.int64)
    t0, span = t.min(), t.max() - t.min() + 1
    return (t - t0) * n // span


def integrate(events: np.ndarray, sensor: tuple[int, int], n: int, split_by: str = "number",
              size: int | None = None) -> np.ndarray:
    """Integrate ``events`` (fields t, x, y, p) into int64 frames ``[n, 2, h, w]``.

    Args:
        events: ``[N]`` structured array (see :data:`spikemask.data.events.formats.EVENT_DTYPE`).
        sensor: ``(H, W)`` of the camera; events outside it are dropped.
        n: number of frames; split_by: ``"number"`` or ``"time"`` (see the module docstring).
        size: output side ``h = w = size`` (pixels are binned: ``x * size // W``); ``None`` keeps ``(H, W)``.
    """
    H, W = sensor
    h, w = (H, W) if size is None else (size, size)
    check(1 <= h <= H and 1 <= w <= W,
          f"frame size {size} must be between 1 and the sensor size {min(H, W)}; up-sample in the model instead")
    frame = frame_index(events["t"], n, split_by)
    x, y = events["x"].astype(np.int64), events["y"].astype(np.int64)
    inside = (x >= 0) & (x < W) & (y >= 0) & (y < H)
    if not inside.all():
        frame, x, y, events = frame[inside], x[inside], y[inside], events[inside]
    flat = ((frame * 2 + events["p"]) * h + y * h // H) * w + x * w // W
    return np.bincount(flat, minlength=n * 2 * h * w).reshape(n, 2, h, w)
