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
import time
from pathlib import Path
from typing import Any, Callable

import torch

from spikemask.errors import SpikemaskError


def atomic_write(path: str | os.PathLike, write: Callable[[Any], None], mode: str) -> Path:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it over ``path``.

    - Temporary files of ``path`` left by a killed earlier write are removed first: the temporary file
      is named ``.NAME.PID.*.tmp`` after the writing process, and one whose process no longer runs is an
      orphan (a name without a PID counts as one once it is an hour old).
    - The file gets the permissions the user's umask allows (0644 for the usual 022), not mkstemp's 0600.
    - A failed write (full disk, no permission, ...) raises one :class:`SpikemaskError` naming the path;
      the previous file, if any, is kept.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for orphan in path.parent.glob(f".{path.name}.*.tmp"):
            if _is_orphan(orphan, path.name):
                orphan.unlink(missing_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp")
    except OSError as e:
        raise SpikemaskError(f"cannot write {path}: {e.strerror or e}; pick a folder you can write to") from None
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(e, OSError) or _is_torch_write_error(e):
            raise SpikemaskError(f"could not write {path} ({getattr(e, 'strerror', None) or e}); the previous file, "
                                 "if any, is kept: free disk space or write elsewhere") from None
        raise
    return path


def prepare_folder(path: str | os.PathLike) -> list[Path]:
    """Make sure output folder ``path`` exists and can be written, before any work is done.

    Creates ``path`` and its missing parents and writes and removes a probe file in it. Returns the
    folders it created (deepest first), so that a run which then fails can remove them again
    (:func:`remove_empty`).

    Raises:
        SpikemaskError: ``path`` (or a parent) is a file, or cannot be created or written.
    """
    path = Path(path)
    created = [p for p in (path, *path.parents) if not p.exists()]
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except FileExistsError:
        raise SpikemaskError(f"output folder {path} is a file (or lies under one); pick a folder") from None
    except OSError as e:
        remove_empty(created)
        raise SpikemaskError(f"cannot write into output folder {path}: {e.strerror or e}; pick a folder you can "
                             "write to") from None
    return created


def remove_empty(folders: list[Path]) -> None:
    """Remove each of ``folders`` (deepest first) that is still empty."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            pass


def _is_orphan(temp: Path, name: str) -> bool:
    """True if temporary file ``temp`` of target ``name`` was left by a writer that no longer runs."""
    pid = temp.name[len(name) + 2:].split(".", 1)[0]
    if not pid.isdigit():
        return time.time() - temp.stat().st_mtime > 3600
    try:
        os.kill(int(pid), 0)                                     # signal 0: only asks whether it exists
    except ProcessLookupError:
        return True
    except PermissionError:                                      # another user's live process
        return False
    return False


def current_umask() -> int:
    """The process's file-creation mask (reading it means setting it, so it is set back at once)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _is_torch_write_error(e: BaseException) -> bool:
    """``torch.save`` reports a failed write (e.g. a full disk) as a RuntimeError of its stream writer."""
    return isinstance(e, RuntimeError) and ("PytorchStreamWriter" in str(e) or "unexpected pos" in str(e))


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically.

    NaN and ±inf are refused (JSON has no such numbers, and a result holding one is broken): one
    :class:`SpikemaskError` naming the path, and no file is written.
    """
    try:
        text = json.dumps(obj, indent=2, sort_keys=False, allow_nan=False)
    except ValueError:
        raise SpikemaskError(f"the result for {path} contains NaN or infinite numbers, so it was not written; "
                             "check the inputs and options of the run") from None
    return atomic_write(path, lambda f: f.write(text), "w")


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
    if path.is_dir():
        hint = f"; did you mean {path / 'checkpoint.pt'}?" if (path / "checkpoint.pt").is_file() else ""
        raise SpikemaskError(f"{what} {path} is a folder, not a file: pass the file itself{hint}")
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
