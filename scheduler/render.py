"""Plain-text tables for the terminal: fixed-width columns that line up in any pager or log.

Every cell is put on one line (`kuroshio.storage.text.one_line`): cells show what came from outside —
titles, URLs, servers' error messages, source names — and a line break would break the columns, an
escape sequence (`ESC]0;...BEL`, `ESC[2J`) rewrite the reader's terminal.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kuroshio.storage.text import one_line


def render_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Rows under headers, columns padded to their widest cell, each cell on one line; '(none)' for no rows."""
    cells = [[one_line(str(cell)) for cell in row] for row in rows]
    widths = [len(header) for header in headers]
    for row in cells:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row)]
    lines = ["  ".join(header.ljust(width) for header, width in zip(headers, widths)).rstrip()]
    lines.append("  ".join("-" * width for width in widths))
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in cells]
    if not cells:
        lines.append("(none)")
    return "\n".join(lines)
