"""The store's option: `[storage] url`, which database holds the archive.

Declared once, as the other parts' options are (see `kuroshio.crawler.options`). The empty default
means SQLite in the per-user data folder (`kuroshio.storage.engine.default_database_url`);
`$KUROSHIO_DATABASE_URL` overrides the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class StorageConfig:
    """`[storage]`: where the archive lives."""

    url: str = field(default="", metadata={
        "help": "SQLAlchemy database URL; default: SQLite in the per-user data folder."})

    def problems(self) -> Iterator[tuple[str, str]]:
        """A path where a URL belongs (a common slip: `url = "kuroshio.db"`)."""
        if self.url and "://" not in self.url:
            yield "url", f"expected a database URL like sqlite:////path/kuroshio.db, got {self.url!r}"
