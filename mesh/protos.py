"""Find service descriptors by full name in the generated ``shop`` stubs."""

from __future__ import annotations

import importlib
import pkgutil

from google.protobuf import descriptor, descriptor_pool

__all__ = ["import_generated", "service_descriptor"]

_imported: set[str] = set()


def import_generated(package: str = "shop") -> None:
    """Import every ``*_pb2`` module under ``package`` so its descriptors are in the pool."""
    if package in _imported:
        return
    root = importlib.import_module(package)
    for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
        if info.name.endswith("_pb2"):
            importlib.import_module(info.name)
    _imported.add(package)


def service_descriptor(full_name: str, package: str = "shop") -> descriptor.ServiceDescriptor:
    pool = descriptor_pool.Default()
    try:
        return pool.FindServiceByName(full_name)
    except KeyError:
        import_generated(package)
        return pool.FindServiceByName(full_name)
