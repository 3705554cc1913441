"""``scripts/token``: a bearer token from the local issuer, for calling the local gateway.

    curl -H "Authorization: Bearer $(scripts/token)" http://127.0.0.1:8080/v1/orders
    scripts/token --user bob --scope orders.read --ttl 600
    scripts/token --admin                      # every scope the contracts declare

Prints the token and nothing else on stdout, so ``$(scripts/token)`` is the
token. Every input is checked before the data dir is touched; a refusal is a
message on stderr and exit status 2. The signing key is made on first use,
so this works before, during and after ``scripts/run``.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

from mesh.access import declared_scopes
from mesh.issuer import MAX_TTL, IssuerError, LocalIssuer, check_subject
from mesh.protos import service_descriptor
from mesh.topology import TopologyError, load_topology

__all__ = ["CUSTOMER_SCOPES", "DEFAULT_USER", "known_scopes", "main"]

DEFAULT_USER = "alice"
# What a signed-in shopper may do: fill and check out their own cart, see and
# place their own orders.
CUSTOMER_SCOPES = ("carts.read", "carts.write", "orders.read", "orders.write")


def known_scopes() -> dict[str, str]:
    """Every scope the contracts of services.yaml's services declare: name → description."""
    topology = load_topology()
    return declared_scopes(
        service_descriptor(spec.grpc_service)
        for spec in topology.services.values()
        if spec.grpc_service
    )


def _ttl(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a number of seconds") from None
    if not math.isfinite(seconds) or not 0 < seconds <= MAX_TTL:
        raise argparse.ArgumentTypeError(
            f"must be more than 0 and at most {MAX_TTL:.0f} seconds (one day)"
        )
    return seconds


def _data_dir(text: str) -> Path:
    # Path("") is the working directory: the key would land in the repository.
    if not text:
        raise argparse.ArgumentTypeError("must not be empty")
    return Path(text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scripts/token",
        description="Print a bearer token for the local gateway, signed by the local issuer.",
    )
    parser.add_argument(
        "--user", default=DEFAULT_USER, help=f"the token's subject (default {DEFAULT_USER})"
    )
    grant = parser.add_mutually_exclusive_group()
    grant.add_argument(
        "--scope",
        action="append",
        metavar="SCOPE",
        help=f"grant this scope (repeat; default {' '.join(CUSTOMER_SCOPES)}, a customer's)",
    )
    grant.add_argument(
        "--admin", action="store_true", help="grant every scope the contracts declare"
    )
    parser.add_argument(
        "--ttl", type=_ttl, default=3600.0, help="lifetime in seconds (default 3600, at most 86400)"
    )
    parser.add_argument(
        "--data-dir",
        type=_data_dir,
        # The same default as scripts/run, so both find the same key.
        default=Path(os.environ.get("MESH_DATA_DIR") or ".data"),
        help="where the signing key is (default $MESH_DATA_DIR, else .data)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    opts = parser.parse_args(argv)
    try:
        check_subject(opts.user)
    except ValueError as exc:
        parser.error(f"--user: {exc}")
    try:
        known = known_scopes()
    except (TopologyError, KeyError) as exc:
        parser.error(f"cannot read the contracts' scopes: {exc}")
    scopes = sorted(known) if opts.admin else opts.scope or list(CUSTOMER_SCOPES)
    unknown = sorted({scope for scope in scopes if scope not in known})
    if unknown:
        shown = ", ".join(repr(s[:40]) for s in unknown[:5])
        parser.error(
            f"unknown scope {shown} (one scope per --scope; known: {', '.join(sorted(known))})"
        )
    try:
        issuer = LocalIssuer.load_or_create(opts.data_dir)
    except IssuerError as exc:
        parser.error(str(exc))
    print(issuer.mint(opts.user, scopes, opts.ttl))
    return 0


if __name__ == "__main__":
    sys.exit(main())
