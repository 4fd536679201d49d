"""The store's options: `[storage] url`, which database holds the archive, and `password_env`, where
its password is kept when not in the URL.

Declared once, as the other parts' options are (see `kuroshio.crawler.options`). The empty default
means SQLite in the per-user data folder (`kuroshio.storage.engine.default_database_url`);
`$KUROSHIO_DATABASE_URL` overrides the file. A server's password is best kept out of the file, as the
SMTP password is: the variable `password_env` names (`$KUROSHIO_DATABASE_PASSWORD`) is put into a URL
that has none (`kuroshio.storage.engine.url_with_password`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class StorageConfig:
    """`[storage]`: where the archive lives."""

    url: str = field(default="", metadata={
        "help": "SQLAlchemy database URL; default: SQLite in the per-user data folder."})
    password_env: str = field(default="KUROSHIO_DATABASE_PASSWORD", metadata={
        "help": "Environment variable holding the database password, used when the URL has none."})

    def problems(self) -> Iterator[tuple[str, str]]:
        """A path where a URL belongs (a common slip: `url = "kuroshio.db"`)."""
        if self.url and "://" not in self.url:
            yield "url", f"expected a database URL like sqlite:////path/kuroshio.db, got {self.url!r}"
