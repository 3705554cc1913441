"""Generate Python messages, gRPC stubs and .pyi type stubs for every proto.

Run by scripts/run and scripts/test (through scripts/lib/bootstrap.sh) and by
the Docker build. Output goes to gen/, which is gitignored: never edit it.

    python scripts/codegen.py [--out gen] [--check-only]
"""

from __future__ import annotations

import argparse
import shutil
import sys
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROTO_ROOT = ROOT / "protos"
# A FileDescriptorSet of every proto with source info, beside the stubs.
SOURCE_INFO = "descriptors.binpb"


def googleapis_include() -> Path:
    """The directory that holds google/api/*.proto inside googleapis-common-protos."""
    import google.api

    for entry in google.api.__path__:
        if (Path(entry) / "annotations.proto").exists():
            return Path(entry).parents[1]
    raise SystemExit("googleapis-common-protos ships no google/api/annotations.proto")


def well_known_include() -> Path:
    return Path(str(resources.files("grpc_tools") / "_proto"))


def proto_files() -> list[Path]:
    return sorted(p.relative_to(PROTO_ROOT) for p in PROTO_ROOT.rglob("*.proto"))


def plugin(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        raise SystemExit(f"{name} not found next to {sys.executable}: install the codegen extra")
    return found


def generate(out: Path) -> None:
    from grpc_tools import protoc

    if out.exists():
        shutil.rmtree(out)
    (out / "shop").mkdir(parents=True)
    files = [str(p) for p in proto_files()]
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{googleapis_include()}",
        f"-I{well_known_include()}",
        f"--plugin=protoc-gen-mypy={plugin('protoc-gen-mypy')}",
        f"--plugin=protoc-gen-mypy_grpc={plugin('protoc-gen-mypy_grpc')}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_out={out}",
        f"--mypy_grpc_out={out}",
        # Reflection serves these descriptors; the gateway reads the
        # google.api.http options from them too.
        *files,
        # The same descriptors with their comments (the _pb2 modules drop them):
        # the gateway's OpenAPI descriptions come from here. Packaged with `shop`.
        "--include_source_info",
        f"--descriptor_set_out={out / 'shop' / SOURCE_INFO}",
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    # Regular packages (not namespace packages) so mypy and hatch treat the
    # tree like any other; `shop` must not shadow anything else named shop.
    for directory in [out, *(d for d in out.rglob("*") if d.is_dir())]:
        if directory != out:
            (directory / "__init__.py").touch()
    (out / "shop" / "py.typed").touch()
    print(f"generated {len(files)} protos into {out}/")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "gen")
    opts = parser.parse_args()
    generate(opts.out.resolve())


if __name__ == "__main__":
    main()
