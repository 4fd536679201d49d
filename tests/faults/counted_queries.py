"""Run the `kuroshio` command with every SQL statement it sends recorded: `python counted_queries.py
RECORD kuroshio-arguments...` writes RECORD (JSON lines: the statement and its number of parameters)
when the command ends.

The listener is installed on SQLAlchemy's Engine class before the command imports anything of
Kuroshio, so it sees every engine of the process: the scheduler's, the pipeline's, the spider's.
"""

from __future__ import annotations

import atexit
import json
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

RECORD = Path(sys.argv.pop(1))
statements: list[dict[str, Any]] = []


@event.listens_for(Engine, "before_cursor_execute")
def _record(connection: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
    count = len(parameters) if isinstance(parameters, (tuple, list, dict)) else 0
    statements.append({"statement": " ".join(statement.split()), "parameters": count})


@atexit.register
def _write() -> None:
    RECORD.write_text("".join(json.dumps(record) + "\n" for record in statements), encoding="utf-8")


if __name__ == "__main__":
    from kuroshio.scheduler.cli import cli

    cli(prog_name="kuroshio")
