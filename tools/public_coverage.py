"""List the public functions and methods of ``spikemask`` that the test suite never runs.

A dev tool for finding dead code, not a test. It runs the suite under coverage.py (subprocesses
included, so the CLI tests count), then walks the AST of every ``src/spikemask/**/*.py`` and reports
each public function or method none of whose body lines was executed:

    python tools/public_coverage.py                      # whole suite, then the list
    python tools/public_coverage.py --json unreached.json -- tests/test_models.py   # some tests only
    python tools/public_coverage.py --reuse              # list from the data of the previous run

Public means the name does not start with ``_``, plus ``__init__``; methods of classes count,
functions nested in functions do not. A definition line runs at import, so only the body decides.
Output: one ``module:line qualified_name`` per unreached function, then their count.
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import coverage

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "src" / "spikemask"
WORK = ROOT / ".public_coverage"                     # coverage config and data (git-ignored by its own .gitignore)
PUBLIC_DUNDERS = {"__init__"}


@dataclass(frozen=True)
class Unreached:
    """A public function or method whose body never ran."""

    module: str
    line: int
    name: str

    def __str__(self) -> str:
        return f"{self.module}:{self.line} {self.name}"


def write_config() -> Path:
    """The coverage config of the run: only the package's source, subprocesses measured too."""
    WORK.mkdir(exist_ok=True)
    (WORK / ".gitignore").write_text("*\n", encoding="utf-8")
    config = WORK / "coveragerc"
    config.write_text(f"[run]\nsource = {SOURCE}\ndata_file = {WORK / '.coverage'}\npatch = subprocess\n",
                      encoding="utf-8")
    return config


def run_suite(config: Path, pytest_args: list[str]) -> int:
    """Run ``pytest -q [pytest_args]`` under coverage on this tree's source; combine the data; pytest's status."""
    for stale in WORK.glob(".coverage*"):
        stale.unlink()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(SOURCE.parent), os.environ.get("PYTHONPATH")])))
    status = subprocess.run([sys.executable, "-m", "coverage", "run", f"--rcfile={config}", "-m", "pytest", "-q",
                             *pytest_args], cwd=ROOT, env=env).returncode
    subprocess.run([sys.executable, "-m", "coverage", "combine", "-q", f"--rcfile={config}"], cwd=ROOT, check=True)
    return status


def module_name(path: Path) -> str:
    """Dotted name of a source file; a package ``__init__.py`` is the package itself."""
    parts = path.relative_to(SOURCE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_public(name: str) -> bool:
    """Whether a function's own name is public (no leading ``_``, or ``__init__``)."""
    return not name.startswith("_") or name in PUBLIC_DUNDERS


def functions(body: list[ast.stmt], prefix: str = "") -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """``(qualified name, node)`` of every function at module level or in (nested) classes of ``body``."""
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield prefix + node.name, node
        elif isinstance(node, ast.ClassDef):
            yield from functions(node.body, f"{prefix}{node.name}.")


def unreached_functions(cov: coverage.Coverage) -> list[Unreached]:
    """Public functions of the package none of whose body statements ran, in file and line order."""
    unreached = []
    for path in sorted(SOURCE.rglob("*.py")):
        _, statements, _, missing, _ = cov.analysis2(str(path))
        executed = set(statements) - set(missing)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for name, node in functions(tree.body):
            body = {line for line in statements if node.body[0].lineno <= line <= node.end_lineno}
            if is_public(name.rpartition(".")[2]) and body and not body & executed:
                unreached.append(Unreached(module_name(path), node.lineno, name))
    return unreached


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the list as JSON to PATH")
    parser.add_argument("--reuse", action="store_true", help="do not run the tests; use the previous run's data")
    parser.add_argument("pytest_args", nargs="*", help="passed to pytest after '--' (default: the whole suite)")
    args = parser.parse_args(argv)

    config = WORK / "coveragerc" if args.reuse else write_config()
    if args.reuse and not (WORK / ".coverage").exists():
        parser.error(f"no coverage data in {WORK}; run without --reuse first")
    if not args.reuse and (status := run_suite(config, args.pytest_args)) != 0:
        print(f"warning: pytest exited with status {status}; the coverage below is of the tests that ran",
              file=sys.stderr)

    cov = coverage.Coverage(config_file=str(config))
    cov.load()
    unreached = unreached_functions(cov)
    for function in unreached:
        print(function)
    print(f"{len(unreached)} public functions never run by the tests")
    if args.json:
        args.json.write_text(json.dumps({"count": len(unreached), "unreached": [asdict(f) for f in unreached]},
                                        indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
