"""A self-contained HTML page listing the operations of the OpenAPI document.

Server-rendered with no scripts or external assets: the page must work on a
closed network and behind strict content-security policies.
"""

from __future__ import annotations

from html import escape
from typing import Any

__all__ = ["render_docs"]

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:60rem;color:#222}
h2{border-bottom:1px solid #ccc;padding-bottom:.2rem;margin-top:2rem}
.op{margin:.6rem 0;padding:.5rem .8rem;border-left:4px solid #888;background:#f7f7f7}
.m{display:inline-block;min-width:4.5rem;font-weight:bold;font-family:monospace}
code{font-size:.95em} table{border-collapse:collapse;margin:.3rem 0}
td,th{padding:.1rem .6rem;text-align:left;font-size:.9em}
"""


def render_docs(spec: dict[str, Any]) -> str:
    info = spec.get("info", {})
    by_tag: dict[str, list[str]] = {}
    for path, operations in spec.get("paths", {}).items():
        for method, op in operations.items():
            rows = "".join(
                f"<tr><td><code>{escape(p['name'])}</code></td><td>{escape(p['in'])}</td>"
                f"<td>{escape(str(p.get('schema', {}).get('type', '')))}</td></tr>"
                for p in op.get("parameters", [])
            )
            table = f"<table><tr><th>parameter</th><th>in</th><th>type</th></tr>{rows}</table>"
            body = " · JSON body" if "requestBody" in op else ""
            html = (
                f'<div class="op"><span class="m">{escape(method.upper())}</span>'
                f"<code>{escape(path)}</code><br><small>{escape(op.get('summary', ''))}"
                f"{body}</small>{table if rows else ''}</div>"
            )
            by_tag.setdefault(", ".join(op.get("tags", ["other"])), []).append(html)
    sections = "".join(
        f"<h2>{escape(tag)}</h2>{''.join(ops)}" for tag, ops in sorted(by_tag.items())
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{escape(info.get('title', 'API'))}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{escape(info.get('title', 'API'))} <small>{escape(info.get('version', ''))}</small>"
        f"</h1><p>{escape(info.get('description', ''))}</p>"
        '<p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1). '
        "Errors are <code>google.rpc.Status</code> JSON.</p>"
        f"{sections}</body></html>"
    )
