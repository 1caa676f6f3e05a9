"""``spikemask demo``: the main job, end to end on bundled MNIST on a CPU (:mod:`spikemask.studies.demo`)."""
from __future__ import annotations

import argparse
from pathlib import Path

from spikemask.cli.options import add_options, config_from_args
from spikemask.studies import demo


def say(line: str) -> None:
    print(line, flush=True)


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args, demo.DemoConfig)
    result = demo.demo(cfg, log=say)
    print("\n" + result.table())
    result.save(cfg.out)
    print(f"\nwrote {Path(cfg.out)}/metrics.json, accuracy_vs_T.png, power_vs_mask_ratio.png and one run folder "
          "per ratio")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    doc = demo.__doc__.split("\n\n")
    p = sub.add_parser("demo", help="train, mask, convert and measure a small VGG on bundled MNIST (the main job)",
                       description=doc[0] + " Steps: " + " ".join(doc[1].split()))
    add_options(p, demo.DemoConfig)
    p.set_defaults(func=run)
