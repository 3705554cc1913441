"""Build the workflow's Lambda package: ``dist/functions/functions.zip``.

One zip serves every function of services.yaml's ``functions`` map (each
Lambda's handler is ``functions.<name>.handler``). It holds the ``functions``
and ``mesh`` packages, the generated ``shop`` stubs, services.yaml, and the
project's dependencies as Linux wheels for the Lambda runtime (python3.12,
x86_64), installed with pip's ``--platform`` so no compiler or container is
needed. Left out: boto3, which the Lambda runtime ships (botocore alone would
take a third of Lambda's 250 MB unzipped limit), and what only the services
and the REST gateway import (their stores, the ASGI server); the package test
imports every function from the unzipped package to prove nothing it needs
went missing.

The zip is reproducible: the same sources and wheels give the same bytes
(entries sorted, one fixed timestamp and mode, no bytecode, no console
scripts). The dependency versions are pinned to the ones installed where the
script runs (the project's virtualenv, where the tests ran), so the package
carries what was tested.

    scripts/package-functions [--out dist/functions] [--python-version 3.12]
"""

from __future__ import annotations

import argparse
import ast
import base64
import hashlib
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mesh.topology import TopologyError, load_topology

ROOT = Path(__file__).resolve().parents[1]
ZIP_NAME = "functions.zip"
# Lambda's python3.12 runtime runs on Amazon Linux 2023 (glibc 2.34): wheels
# built for manylinux 2.28 and 2014 (2.17) both load there.
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux2014_x86_64")
LAMBDA_PYTHON = "3.12"
# Not packaged (see the module docstring): in the Lambda runtime already, or
# imported only by the services' stores and the REST gateway.
PROVIDED_BY_RUNTIME = {"boto3"}
SERVER_ONLY = {
    "sqlalchemy",
    "aiosqlite",
    "asyncpg",
    "alembic",
    "redis",
    "uvicorn",
    "uvloop",
    "httptools",
    "orjson",
    "pyjwt",
}
# The oldest timestamp a zip entry can carry: every entry gets it.
EPOCH = (1980, 1, 1, 0, 0, 0)
# Lambda's limits: 50 MB for a zip uploaded directly, 250 MB unzipped.
MAX_ZIPPED = 50 * 1024 * 1024
MAX_UNZIPPED = 250 * 1024 * 1024
_SKIP_DIRS = {"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"}
_SKIP_SUFFIXES = {".pyc", ".pyo"}


class PackageError(Exception):
    """The package cannot be built as asked; the message says why."""


@dataclass(frozen=True)
class Entry:
    """One file of the zip: where it goes and where it comes from."""

    arcname: str
    source: Path


def function_names(root: Path) -> list[str]:
    """The names in services.yaml's ``functions`` map, checked against functions/."""
    services = root / "services.yaml"
    try:
        topology = load_topology(services)
    except TopologyError as exc:
        raise PackageError(str(exc)) from None
    if not topology.functions:
        raise PackageError(f"{services}: no functions map: nothing to package")
    names = sorted(topology.functions)
    for name in names:
        module = root / "functions" / f"{name}.py"
        if not module.is_file():
            raise PackageError(f"{services}: function {name!r} has no handler module {module}")
        if not _defines_handler(module):
            raise PackageError(f"{module}: defines no top-level handler(event, context)")
    listed = set(names)
    for module in sorted((root / "functions").glob("*.py")):
        if module.stem not in listed and _defines_handler(module):
            raise PackageError(
                f"{module}: a handler with no entry in {services}'s functions map "
                "(add the entry, or it would never be deployed)"
            )
    return names


def _defines_handler(module: Path) -> bool:
    """A top-level ``handler``: a function, or a name bound to one (``handler = wrap(step)``)."""
    try:
        tree = ast.parse(module.read_text(encoding="utf-8"), filename=str(module))
    except SyntaxError as exc:
        raise PackageError(f"{module}:{exc.lineno}: not valid Python: {exc.msg}") from None
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == "handler":
            return True
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign)
            else []
        )
        if any(isinstance(t, ast.Name) and t.id == "handler" for t in targets):
            return True
    return False


def requirements(root: Path) -> list[str]:
    """The project's runtime dependencies the functions need (all but the left-out ones)."""
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    kept = []
    for requirement in project["dependencies"]:
        name = re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0]
        if name.lower() not in PROVIDED_BY_RUNTIME | SERVER_ONLY:
            kept.append(requirement)
    return kept


def pinned_versions() -> list[str]:
    """``name==version`` of every distribution installed in this interpreter's environment."""
    pins = {
        dist.metadata["Name"].lower(): f"{dist.metadata['Name']}=={dist.version}"
        for dist in importlib.metadata.distributions()
        if dist.metadata["Name"]
    }
    return [pins[name] for name in sorted(pins)]


def install_dependencies(root: Path, target: Path, python_version: str) -> None:
    """Linux wheels of the requirements for ``python_version`` into ``target`` (pip --target)."""
    with tempfile.TemporaryDirectory(prefix="package-functions-") as scratch:
        reqs = Path(scratch) / "requirements.txt"
        reqs.write_text("\n".join(requirements(root)) + "\n", encoding="utf-8")
        pins = Path(scratch) / "constraints.txt"
        pins.write_text("\n".join(pinned_versions()) + "\n", encoding="utf-8")
        command = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-compile",
            "--target",
            str(target),
            "--implementation",
            "cp",
            "--python-version",
            python_version,
            "--only-binary=:all:",
            *(arg for platform in PLATFORMS for arg in ("--platform", platform)),
            "--requirement",
            str(reqs),
            "--constraint",
            str(pins),
        ]
        run = subprocess.run(command, capture_output=True, text=True, check=False)
        if run.returncode != 0:
            raise PackageError(f"pip could not install the dependencies:\n{run.stderr[-4000:]}")


def dependencies(root: Path, cache: Path, python_version: str) -> Path:
    """The installed dependencies, reused while requirements and pins stay the same."""
    key = hashlib.sha256(
        "\n".join([python_version, *PLATFORMS, *requirements(root), *pinned_versions()]).encode()
    ).hexdigest()[:16]
    target = cache / f"py{python_version}-{key}"
    if (target / ".complete").is_file():
        return target
    shutil.rmtree(target, ignore_errors=True)
    install_dependencies(root, target, python_version)
    (target / ".complete").write_text("", encoding="utf-8")
    # Earlier sets for this Python are outdated now: keep the cache one set deep.
    for old in cache.glob(f"py{python_version}-*"):
        if old != target:
            shutil.rmtree(old, ignore_errors=True)
    return target


def _files(directory: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(directory):
        dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS]
        for filename in filenames:
            path = Path(dirpath) / filename
            if path.suffix not in _SKIP_SUFFIXES:
                yield path


def entries(root: Path, deps: Path | None) -> list[Entry]:
    """Every file of the package, sorted by its name in the zip.

    Our packages keep their paths; ``gen/shop`` becomes ``shop``; the
    dependencies sit at the top (Lambda puts the zip's root on sys.path) without
    their console scripts, which name the interpreter of the machine that built them.
    """
    found: dict[str, Path] = {}

    def add(arcname: str, source: Path) -> None:
        if arcname in found:
            raise PackageError(f"{arcname} comes from both {found[arcname]} and {source}")
        found[arcname] = source

    for package, base in (("functions", root), ("mesh", root), ("shop", root / "gen")):
        directory = base / package
        if not (directory / "__init__.py").is_file():
            hint = " (run scripts/codegen.py)" if package == "shop" else ""
            raise PackageError(f"{directory}: no such package{hint}")
        for path in _files(directory):
            add(path.relative_to(base).as_posix(), path)
    add("services.yaml", root / "services.yaml")
    if deps is not None:
        for path in _files(deps):
            relative = path.relative_to(deps)
            if relative.parts[0] in ("bin", ".complete"):
                continue
            add(relative.as_posix(), path)
    return [Entry(name, found[name]) for name in sorted(found)]


def write_zip(items: Iterable[Entry], destination: Path) -> None:
    """A reproducible zip: fixed timestamp and mode, entries in the order given."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".partial")
    with zipfile.ZipFile(partial, "w") as archive:
        for item in items:
            info = zipfile.ZipInfo(item.arcname, date_time=EPOCH)
            info.create_system = 3  # Unix: the mode below is meaningful
            info.external_attr = 0o100644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, item.source.read_bytes(), compresslevel=6)
    partial.replace(destination)


def check_size(path: Path) -> tuple[int, int]:
    """(zipped, unzipped) bytes, refused beyond what Lambda takes."""
    zipped = path.stat().st_size
    with zipfile.ZipFile(path) as archive:
        unzipped = sum(info.file_size for info in archive.infolist())
    if zipped > MAX_ZIPPED:
        raise PackageError(
            f"{path}: {zipped} bytes zipped, over Lambda's {MAX_ZIPPED} for a direct upload"
        )
    if unzipped > MAX_UNZIPPED:
        raise PackageError(f"{path}: {unzipped} bytes unzipped, over Lambda's {MAX_UNZIPPED}")
    return zipped, unzipped


def build(root: Path, out: Path, python_version: str, cache: Path) -> Path:
    names = function_names(root)
    entries(root, None)  # our packages are all there before pip runs
    deps = dependencies(root, cache, python_version)
    destination = out / ZIP_NAME
    write_zip(entries(root, deps), destination)
    zipped, unzipped = check_size(destination)
    digest = base64.b64encode(hashlib.sha256(destination.read_bytes()).digest()).decode()
    print(f"wrote {destination} ({zipped} bytes, {unzipped} unzipped)")
    print(f"functions: {', '.join(names)} (handler functions.<name>.handler)")
    print(f"source_code_hash: {digest}")
    return destination


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--root", type=Path, default=ROOT, help="the repository (default: this one)"
    )
    parser.add_argument("--out", type=Path, help="output folder (default: <root>/dist/functions)")
    parser.add_argument(
        "--python-version",
        default=LAMBDA_PYTHON,
        help=f"Python of the wheels (default {LAMBDA_PYTHON}, the Lambda runtime's)",
    )
    parser.add_argument(
        "--cache",
        type=Path,
        help="where installed dependencies are kept between builds (default: <root>/.tools/functions-deps)",
    )
    args = parser.parse_args(argv)
    if not re.fullmatch(r"3\.\d{1,2}", args.python_version):
        parser.error(f"--python-version must look like 3.12, not {args.python_version!r}")
    root = args.root.resolve()
    try:
        build(
            root,
            args.out or root / "dist" / "functions",
            args.python_version,
            args.cache or root / ".tools" / "functions-deps",
        )
    except PackageError as exc:
        print(f"package-functions: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
