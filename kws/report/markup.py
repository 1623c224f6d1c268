"""Small HTML pieces of the report page. Every text goes through ``esc``; nothing loads from outside."""

from __future__ import annotations

import base64
import html
from typing import Sequence

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto;
       max-width: 1180px; padding: 0 18px 40px; color: #1d2430; background: #fff; line-height: 1.4; }
h1 { font-size: 1.6em; margin: 22px 0 4px; }
h2 { font-size: 1.25em; margin: 28px 0 8px; padding-top: 10px; border-top: 1px solid #d8dde6; }
h3 { font-size: 1.0em; margin: 16px 0 6px; }
nav a { margin-right: 14px; }
.sub { color: #566175; margin: 0 0 8px; }
.na { color: #8a5a00; background: #fff7e6; border: 1px solid #f0d9a8; padding: 6px 10px;
      border-radius: 4px; display: inline-block; }
table { border-collapse: collapse; margin: 6px 0 12px; font-size: 0.92em; }
th, td { border: 1px solid #d8dde6; padding: 3px 8px; text-align: right; }
th { background: #f1f4f8; }
td.l, th.l { text-align: left; }
table.confusion td { min-width: 34px; text-align: center; }
.ok { color: #1c7c32; font-weight: 600; }
.bad { color: #b3261e; font-weight: 600; }
img.plot { max-width: 100%; border: 1px solid #e3e7ee; }
img.det { max-width: 560px; width: 100%; border: 1px solid #e3e7ee; }
.clips { display: grid; grid-template-columns: repeat(auto-fill, minmax(270px, 1fr)); gap: 12px; }
.clip { border: 1px solid #d8dde6; border-radius: 6px; padding: 8px; background: #fafbfd; }
.clip audio { width: 100%; margin: 4px 0; }
.clip img { width: 100%; }
.clip table { width: 100%; margin: 4px 0 0; }
.path { color: #566175; font-size: 0.8em; word-break: break-all; }
pre { background: #f5f7fa; padding: 8px; overflow-x: auto; font-size: 0.85em; }
"""


def esc(value) -> str:
    """Any value as escaped HTML text."""
    return html.escape(str(value), quote=True)


def data_url(mime: str, payload: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(payload).decode('ascii')}"


def img(png: bytes, alt: str, css_class: str = "plot") -> str:
    """An <img> holding ``png`` (PNG bytes) as a data URL."""
    return f'<img class="{css_class}" alt="{esc(alt)}" src="{data_url("image/png", png)}">'


def audio(wav: bytes) -> str:
    """An <audio controls> player holding ``wav`` (a WAV file's bytes) as a data URL."""
    return f'<audio controls preload="metadata" src="{data_url("audio/wav", wav)}"></audio>'


def unavailable(reason: str) -> str:
    """The note a section shows instead of its content."""
    return f'<p class="na">not available: {esc(reason)}</p>'


def table(header: Sequence[str] | None, rows: Sequence[Sequence], left_columns: int = 1,
          css_class: str = "", raw: bool = False) -> str:
    """A table (no header row when ``header`` is None); the first ``left_columns`` columns align
    left. Cells are escaped unless ``raw`` (cells already HTML, e.g. coloured confusion cells)."""
    def cell(tag, i, value):
        align = ' class="l"' if i < left_columns else ""
        return f"<{tag}{align}>{value if raw and tag == 'td' else esc(value)}</{tag}>"

    head = ("" if header is None else
            "<thead><tr>" + "".join(cell("th", i, h) for i, h in enumerate(header))
            + "</tr></thead>")
    body = "".join("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(row)) + "</tr>"
                   for row in rows)
    cls = f' class="{css_class}"' if css_class else ""
    return f"<table{cls}>{head}<tbody>{body}</tbody></table>"


def percent(value) -> str:
    return "-" if value is None else f"{100 * float(value):.1f} %"


def number(value, fmt: str = ",") -> str:
    return "-" if value is None else format(value, fmt)


def passed(flag: bool) -> str:
    return '<span class="ok">ok</span>' if flag else '<span class="bad">FAILED</span>'
