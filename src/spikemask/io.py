"""Atomic file writing: results and checkpoints are never left half-written.

Every writer here writes to a temporary file in the destination folder and then renames it over
the target (``os.replace`` is atomic on POSIX and Windows), so an interrupted run leaves either the
old file or the new one, never a corrupt mix.
"""
from __future__ import annotations

import json
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any, Callable

import torch

from spikemask.errors import SpikemaskError


def atomic_write(path: str | os.PathLike, write: Callable[[Any], None], mode: str) -> Path:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    return atomic_write(path, lambda f: json.dump(obj, f, indent=2, sort_keys=False), "w")


def save_torch(path: str | os.PathLike, obj: Any) -> Path:
    """``torch.save`` to ``path`` atomically."""
    return atomic_write(path, lambda f: torch.save(obj, f), "wb")


def load_torch(path: str | os.PathLike, what: str = "checkpoint") -> Any:
    """``torch.load`` on CPU that never runs code from the file, with one-line errors.

    ``weights_only=True``: only tensors and plain data (dicts, lists, tuples, strings, numbers) are
    unpickled; a file whose pickle names any other Python object — a class, a function such as
    ``os.system`` — is refused before anything from it runs.
    """
    path = Path(path)
    if not path.is_file():
        raise SpikemaskError(f"{what} not found: {path} (check the path; `spikemask train` writes DIR/checkpoint.pt)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise SpikemaskError(f"{what} {path} holds Python objects other than tensors and plain data; it was not "
                             "loaded, since loading never runs code from a file (save tensors and plain data only)"
                             ) from None
    except Exception as e:  # torch raises many types for truncated/corrupt files
        raise SpikemaskError(f"{what} {path} is corrupt or not a PyTorch file ({type(e).__name__}); "
                             "re-create it or pick another file") from None
