"""Plain-text tables for the terminal: fixed-width columns that line up in any pager or log.

Every cell is put on one line (`kuroshio.storage.text.one_line`): cells show what came from outside —
titles, URLs, servers' error messages, source names — and a line break would break the columns, an
escape sequence (`ESC]0;...BEL`, `ESC[2J`) rewrite the reader's terminal.

Columns are measured in terminal cells, not characters (`kuroshio.storage.text.display_width`): a
Chinese or Japanese character takes two cells, a combining mark none, so a table of 台湾 and Taiwan
titles lines up. `clip` cuts a cell to a width in those cells and says so with "…".
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from kuroshio.storage.text import char_width, display_width, one_line

ELLIPSIS = "…"


def clip(text: str, width: int) -> str:
    """`text` on one line (`one_line`), cut to at most `width` terminal cells, ending in "…" when
    anything was cut."""
    text = one_line(text)
    if display_width(text) <= width:
        return text
    kept, used = [], 0
    for char in text:
        used += char_width(char)
        if used > width - 1:  # the ellipsis takes the last cell
            break
        kept.append(char)
    return "".join(kept).rstrip() + ELLIPSIS


def pad(text: str, width: int) -> str:
    """`text` padded with spaces to `width` terminal cells."""
    return text + " " * (width - display_width(text))


def render_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Rows under headers, columns padded to their widest cell, each cell on one line; '(none)' for no rows."""
    cells = [[one_line(str(cell)) for cell in row] for row in rows]
    widths = [display_width(header) for header in headers]
    for row in cells:
        widths = [max(width, display_width(cell)) for width, cell in zip(widths, row)]
    lines = ["  ".join(pad(header, width) for header, width in zip(headers, widths)).rstrip()]
    lines.append("  ".join("-" * width for width in widths))
    lines += ["  ".join(pad(cell, width) for cell, width in zip(row, widths)).rstrip() for row in cells]
    if not cells:
        lines.append("(none)")
    return "\n".join(lines)


def to_the_second(iso: str | None) -> str:
    """An ISO 8601 time (a JSON record's) to the second, as tables show times; "" for None."""
    return datetime.fromisoformat(iso).isoformat(timespec="seconds") if iso else ""
