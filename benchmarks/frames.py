"""Frame-integration throughput: spikemask's vectorised ``integrate`` vs a per-event Python loop vs tonic.

Integrates the same random stream (uniform pixels on a 128×128 sensor, sorted timestamps over 1 s)
into ``n`` frames ``[n, 2, 128, 128]``, split by event count and by time, and reports events per
second (best of ``--repeat`` runs). The Python loop runs on the first ``--loop-events`` events only
(it is slow); tonic's ``ToFrame`` (``n_event_bins`` / ``n_time_bins``) runs only if tonic is installed.
Prints a table and writes ``benchmarks/results/frames.json``.

    python benchmarks/frames.py [--events 2000000] [--frames 16] [--repeat 5] [--loop-events 200000]
"""
from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path
from typing import Callable

import numpy as np

from spikemask.data.events.formats import make_events
from spikemask.data.events.frames import integrate
from spikemask.io import write_json

SENSOR = (128, 128)


def python_loop(events: np.ndarray, n: int, split_by: str) -> np.ndarray:
    """The obvious implementation: one Python iteration per event."""
    frames = np.zeros((n, 2, *SENSOR), np.int64)
    t0, span = int(events["t"][0]), int(events["t"][-1]) - int(events["t"][0]) + 1
    for i, (t, x, y, p) in enumerate(zip(events["t"].tolist(), events["x"].tolist(), events["y"].tolist(),
                                         events["p"].tolist())):
        j = i * n // len(events) if split_by == "number" else (t - t0) * n // span
        frames[j, p, y, x] += 1
    return frames


def best_time(fn: Callable[[], np.ndarray], repeat: int) -> tuple[float, np.ndarray]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--loop-events", type=int, default=200_000)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "frames.json"))
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    N, n = args.events, args.frames
    events = make_events(np.sort(rng.integers(0, 1_000_000, N)), rng.integers(0, 128, N), rng.integers(0, 128, N),
                         rng.integers(0, 2, N))
    loop_events = events[:args.loop_events]
    try:
        import tonic
        tonic_events = np.empty(N, tonic.io.events_struct)
        for k in "xytp":
            tonic_events[k] = events[k]
    except ModuleNotFoundError:
        tonic = None

    rows = []
    for split_by, tonic_arg in (("number", "n_event_bins"), ("time", "n_time_bins")):
        ours_s, ours = best_time(lambda: integrate(events, SENSOR, n, split_by), args.repeat)
        loop_s, loop = best_time(lambda: python_loop(loop_events, n, split_by), 1)
        assert np.array_equal(loop, integrate(loop_events, SENSOR, n, split_by)), "loop and integrate disagree"
        rows.append({"method": "spikemask integrate (np.bincount)", "split_by": split_by, "events": N,
                     "seconds": ours_s})
        rows.append({"method": "per-event Python loop", "split_by": split_by, "events": len(loop_events),
                     "seconds": loop_s})
        if tonic is not None:
            to_frame = tonic.transforms.ToFrame(sensor_size=(*SENSOR[::-1], 2), **{tonic_arg: n})
            tonic_s, theirs = best_time(lambda: to_frame(tonic_events), args.repeat)
            rows.append({"method": f"tonic {tonic.__version__} ToFrame({tonic_arg})", "split_by": split_by,
                         "events": N, "seconds": tonic_s, "same_frames_as_ours": bool(np.array_equal(theirs, ours)),
                         "events_in_frames": int(theirs.sum())})
    loop_rate = {r["split_by"]: r["events"] / r["seconds"] for r in rows if r["method"].startswith("per-event")}
    for r in rows:
        r["events_per_second"] = r["events"] / r["seconds"]
        r["speedup_vs_loop"] = r["events_per_second"] / loop_rate[r["split_by"]]

    print(f"{N:,} events, {n} frames of 2×{SENSOR[0]}×{SENSOR[1]}, best of {args.repeat} "
          f"(Python loop: {args.loop_events:,} events, 1 run)")
    print(f"{'method':42s} {'split':7s} {'events/s':>14s} {'vs loop':>9s}")
    for r in rows:
        print(f"{r['method']:42s} {r['split_by']:7s} {r['events_per_second']:14,.0f} {r['speedup_vs_loop']:8.0f}×")
    write_json(args.out, {"events": N, "frames": n, "sensor_hw": list(SENSOR), "repeat": args.repeat,
                          "numpy": np.__version__, "python": platform.python_version(),
                          "machine": platform.machine(), "results": rows})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
