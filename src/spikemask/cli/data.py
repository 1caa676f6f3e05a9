"""``spikemask data``: prepare (integrate and cache) and inspect event-camera datasets."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from spikemask.cli.common import positive_int
from spikemask.data import get_dataset
from spikemask.data.events.cache import prepare
from spikemask.data.events.dataset import EventDataset
from spikemask.data.events.datasets import EVENT_DATASETS
from spikemask.data.events.frames import SPLIT_MODES
from spikemask.errors import SpikemaskError
from spikemask.io import write_json
from spikemask.report.plots import plot_event_frames


def _splits(args: argparse.Namespace) -> dict[str, EventDataset]:
    """The train and test splits of ``--dataset`` with the frame options of ``args``, without augmentation."""
    if args.dataset not in EVENT_DATASETS:
        raise SpikemaskError(f"{args.dataset!r} is not an event dataset; choose one of: {', '.join(EVENT_DATASETS)}")
    options = {"frames": args.frames, "split_by": args.split_by, "augment": False, "cache_dir": args.cache}
    if args.size:
        options["img_size"] = args.size
    return {s: get_dataset(args.dataset, root=args.root, train=s == "train", **options).dataset
            for s in ("train", "test")}


def run_prepare(args: argparse.Namespace) -> int:
    for split, ds in _splits(args).items():
        start = time.perf_counter()
        if ds.cache is None:
            print(f"{split}: {len(ds)} samples ready (frames are computed on the fly from events in memory)")
            continue
        events = prepare(ds, workers=args.workers, desc=split, progress=not args.no_progress)
        print(f"{split}: {len(ds)} samples, {events} events integrated into {ds.n} frames of "
              f"{ds.size}×{ds.size} in {time.perf_counter() - start:.1f} s; cached in {ds.cache.folder}")
    return 0


def _stats(ds: EventDataset, limit: int) -> dict:
    """Samples per class, and events per sample over at most ``limit`` evenly spaced samples."""
    counts = np.bincount(np.asarray(ds.labels, dtype=np.int64), minlength=len(ds.classes))
    picked = np.unique(np.linspace(0, len(ds) - 1, min(limit, len(ds))).astype(int)) if len(ds) else []
    sizes = np.array([len(ds.events(int(i))) for i in picked] or [0])
    return {"samples": len(ds), "per_class": dict(zip(ds.classes, counts.tolist())),
            "events_per_sample": {"measured_on": len(picked), "min": int(sizes.min()), "mean": float(sizes.mean()),
                                  "median": float(np.median(sizes)), "max": int(sizes.max())}}


def _picture(ds: EventDataset, path: Path, rows: int = 4) -> None:
    """A PNG of the first frames of one sample from each of the first ``rows`` classes."""
    firsts = [ds.labels.index(c) for c in range(len(ds.classes)) if c in ds.labels][:rows]
    plot_event_frames({ds.classes[ds.labels[i]]: ds.frames(i) for i in firsts},
                      f"{ds.name}: {ds.n} frames of {ds.size}×{ds.size} (red ON, blue OFF)", path)


def run_info(args: argparse.Namespace) -> int:
    splits = _splits(args)
    ds = splits["train"]
    info = {"dataset": args.dataset, "sensor_hw": list(ds.sensor), "classes": len(ds.classes),
            "frames": ds.n, "split_by": ds.split_by, "size": ds.size,
            **{split: _stats(d, args.limit) for split, d in splits.items()}}
    print(f"{args.dataset}: {len(ds.classes)} classes, sensor {ds.sensor[1]}×{ds.sensor[0]} (W×H), "
          f"frames {ds.n} × 2 × {ds.size} × {ds.size} (split by {ds.split_by})")
    for split in ("train", "test"):
        s = info[split]
        e = s["events_per_sample"]
        print(f"{split}: {s['samples']} samples; events per sample (over {e['measured_on']}): min {e['min']}, "
              f"mean {e['mean']:.0f}, median {e['median']:.0f}, max {e['max']}")
        print("  per class: " + ", ".join(f"{name} {n}" for name, n in s["per_class"].items()))
    if args.out:
        out = Path(args.out)
        write_json(out / f"{args.dataset}_info.json", info)
        _picture(splits["test"] if len(splits["test"]) else ds, out / f"{args.dataset}_samples.png")
        print(f"wrote {out / f'{args.dataset}_info.json'} and {out / f'{args.dataset}_samples.png'}")
    return 0


def _frame_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="nmnist_sim", help="event dataset name (default nmnist_sim, needs no files)")
    p.add_argument("--root", help="folder holding the dataset's files (for nmnist_sim: where to keep its events)")
    p.add_argument("--frames", type=positive_int, default=16, help="frames n per sample (default 16)")
    p.add_argument("--split-by", choices=SPLIT_MODES, default="number",
                   help="split events into frames by count or by time (default number)")
    p.add_argument("--size", type=positive_int, help="frame side S in pixels (default: the dataset's)")
    p.add_argument("--cache", help="cache folder (default $SPIKEMASK_CACHE or ~/.cache/spikemask)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="prepare (integrate + cache) and inspect event-camera datasets",
                       description="Prepare and inspect event-camera datasets.")
    dsub = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)
    prep = dsub.add_parser("prepare", help="integrate every sample into frames and cache them",
                           description="Integrate every sample of both splits into frames and cache them on disk.")
    _frame_args(prep)
    prep.add_argument("--workers", type=positive_int, default=1, help="parallel worker processes (default 1)")
    prep.add_argument("--no-progress", action="store_true", help="no progress bar")
    prep.set_defaults(func=run_prepare)
    info = dsub.add_parser("info", help="class counts, events per sample, and a picture of a few samples",
                           description="Print class counts and events-per-sample statistics; with --out, "
                                       "also write DATASET_info.json and DATASET_samples.png there.")
    _frame_args(info)
    info.add_argument("--out", help="folder for DATASET_info.json and DATASET_samples.png")
    info.add_argument("--limit", type=positive_int, default=500,
                      help="measure events per sample on at most this many samples per split (default 500)")
    info.set_defaults(func=run_info)
