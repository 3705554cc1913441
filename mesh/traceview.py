"""``scripts/trace``: one trace's spans, assembled from what the processes exported, as a tree.

    scripts/trace --list                       recent traces (newest last)
    scripts/trace 0af7651916cd43dd8448eb211c80319c
    scripts/trace 1-0af76519-16cd43dd8448eb211c80319c   the X-Ray form works too

It reads the ``file`` exporter's output (``MESH_TRACES_EXPORTER=file``, what
``scripts/run`` sets): ``<data dir>/traces/<service>-<replica>.jsonl``, one
span per line in the OpenTelemetry SDK's own JSON (``ReadableSpan.to_json``).
Each process writes its own file, so a trace is put back together here by
trace id and parent span id.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

__all__ = ["Span", "load_spans", "main", "normalise_trace_id", "render_tree"]


@dataclass
class Span:
    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    kind: str
    service: str
    replica: str
    start: datetime
    end: datetime
    status: str
    attributes: dict[str, Any]
    children: list[Span] = field(default_factory=list)

    @property
    def duration_ms(self) -> float:
        return (self.end - self.start).total_seconds() * 1000


def _hex(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    return value[2:] if value.startswith("0x") else value


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def parse_span(line: str) -> Span | None:
    """One exported line, or None if it is not a span (a torn last line, say)."""
    try:
        raw = json.loads(line)
        context = raw["context"]
        resource = raw.get("resource", {}).get("attributes", {})
        return Span(
            trace_id=_hex(context["trace_id"]) or "",
            span_id=_hex(context["span_id"]) or "",
            parent_id=_hex(raw.get("parent_id")),
            name=str(raw["name"]),
            kind=str(raw.get("kind", "")).removeprefix("SpanKind."),
            service=str(resource.get("service.name", "?")),
            replica=str(resource.get("service.instance.id", "?")),
            start=_time(raw["start_time"]),
            end=_time(raw["end_time"]),
            status=str(raw.get("status", {}).get("status_code", "UNSET")),
            attributes=dict(raw.get("attributes") or {}),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def load_spans(directory: Path) -> Iterator[Span]:
    for path in sorted(directory.glob("*.jsonl")):
        with path.open(encoding="utf-8", errors="replace") as lines:
            for line in lines:
                span = parse_span(line)
                if span is not None:
                    yield span


def normalise_trace_id(text: str) -> str:
    """32 hex digits from a W3C id, an X-Ray id (``1-8hex-24hex``) or ``0x...``."""
    text = text.strip().lower()
    if text.startswith("1-") and text.count("-") == 2:
        text = text[2:].replace("-", "")
    text = text.removeprefix("0x")
    if len(text) != 32 or any(c not in "0123456789abcdef" for c in text):
        raise ValueError(f"{text!r} is not a trace id (32 hex digits, or 1-xxxxxxxx-<24 hex>)")
    return text


def build_tree(spans: Iterable[Span]) -> list[Span]:
    """Roots (spans whose parent is not among them), each with its children by start time."""
    by_id = {span.span_id: span for span in spans}
    roots: list[Span] = []
    for span in by_id.values():
        parent = by_id.get(span.parent_id or "")
        (parent.children if parent is not None else roots).append(span)
    for span in by_id.values():
        span.children.sort(key=lambda s: s.start)
    return sorted(roots, key=lambda s: s.start)


def _detail(span: Span) -> str:
    attributes = span.attributes
    for key in ("http.response.status_code", "rpc.grpc.status_code", "db.operation.name"):
        if key in attributes:
            return f"{key.rsplit('.', 1)[0].split('.')[-1]}={attributes[key]}"
    return ""


def render_tree(roots: list[Span]) -> list[str]:
    """One line per span: offset from the trace's start, duration, where, what."""
    if not roots:
        return []
    origin = min(root.start for root in roots)
    lines: list[str] = []

    def walk(span: Span, prefix: str, last: bool, top: bool) -> None:
        offset = (span.start - origin).total_seconds() * 1000
        branch = "" if top else ("└─ " if last else "├─ ")
        flag = "  ERROR" if span.status == "ERROR" else ""
        lines.append(
            f"{offset:9.2f} ms {span.duration_ms:9.2f} ms  {prefix}{branch}"
            f"{span.service}-{span.replica} {span.kind.lower()} {span.name}"
            f"{'  ' + _detail(span) if _detail(span) else ''}{flag}"
        )
        below = prefix + ("" if top else ("   " if last else "│  "))
        for i, child in enumerate(span.children):
            walk(child, below, i == len(span.children) - 1, False)

    for root in roots:
        walk(root, "", True, True)
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/trace", description="Show one trace of the local mesh as a tree."
    )
    parser.add_argument("trace_id", nargs="?", help="32 hex digits, or the X-Ray form")
    parser.add_argument(
        "--data-dir", type=Path, default=Path(os.environ.get("MESH_DATA_DIR", ".data"))
    )
    parser.add_argument("--traces-dir", type=Path, help="default: <data dir>/traces")
    parser.add_argument("--list", action="store_true", help="list recent traces")
    parser.add_argument("--limit", type=int, default=20)
    opts = parser.parse_args(argv)
    directory = opts.traces_dir or opts.data_dir / "traces"
    if not directory.is_dir():
        print(f"no traces in {directory} (scripts/run writes them there)", file=sys.stderr)
        return 1
    if opts.list or opts.trace_id is None:
        traces: dict[str, list[Span]] = {}
        for span in load_spans(directory):
            traces.setdefault(span.trace_id, []).append(span)
        ordered = sorted(traces.values(), key=lambda s: min(x.start for x in s))
        for spans in ordered[-opts.limit :]:
            root = min(spans, key=lambda s: s.start)
            services = sorted({s.service for s in spans})
            print(
                f"{root.trace_id}  {root.start:%H:%M:%S}  {len(spans):3d} spans  "
                f"{root.duration_ms:8.2f} ms  {root.name}  ({', '.join(services)})"
            )
        return 0
    try:
        wanted = normalise_trace_id(opts.trace_id)
    except ValueError as exc:
        parser.error(str(exc))
    spans = [span for span in load_spans(directory) if span.trace_id == wanted]
    if not spans:
        print(f"trace {wanted} not found in {directory}", file=sys.stderr)
        return 1
    print(f"trace {wanted}  (X-Ray: 1-{wanted[:8]}-{wanted[8:]}), {len(spans)} spans")
    for line in render_tree(build_tree(spans)):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
