"""``spikemask models``: list the registered models and datasets."""
from __future__ import annotations

import argparse

from spikemask.data import list_datasets
from spikemask.models import list_models, model_options


def run(args: argparse.Namespace) -> int:
    print("models:")
    for name in list_models(args.pattern):
        opts = ", ".join(f"{k}={v!r}" for k, v in model_options(name).items())
        print(f"  {name:22s} {opts}")
    print("datasets: " + ", ".join(list_datasets()))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list registered models (with their options) and datasets",
                       description="List registered models with their options, and the dataset names.")
    p.add_argument("pattern", nargs="?", default="*", help="glob to filter model names, e.g. 'vgg*'")
    p.set_defaults(func=run)
