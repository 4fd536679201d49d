"""What a crawl asks the store while it runs: which of the links it just discovered are already known,
and what was kept of a discovery document's last answer (`crawler.middlewares.conditional`).

Opened per crawl from `KUROSHIO_DATABASE_URL`, as `crawler.pipelines` opens its writes. The crawl
reads nothing of the archive when it starts: each discovery document's links are looked up together
(`kuroshio.storage.articles.known_links`, indexed and in bounded batches) once the document is read,
so a crawl's start-up time and memory stay the same however many articles are stored. Articles
stored during the crawl are known to the documents read after them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

from kuroshio.storage.articles import known_links
from kuroshio.storage.engine import create_engine_for, session_factory
from kuroshio.storage.validators import StoredValidators, stored_validators


class StoreLookups:
    """Short reads of the store on behalf of one crawl; `close` when the crawl ends."""

    def __init__(self, database_url: str) -> None:
        self.engine = create_engine_for(database_url)
        self.sessions = session_factory(self.engine)

    def known_links(self, urls: Sequence[str]) -> set[str]:
        """Which of `urls` (canonical) the crawl need not fetch: stored, or failed for good lately."""
        if not urls:
            return set()
        with self.sessions() as session:
            return known_links(session, urls, now=datetime.now(timezone.utc))

    def validators(self, url: str) -> StoredValidators | None:
        """The validators (and kept body) of the discovery document at `url`, or None."""
        with self.sessions() as session:
            return stored_validators(session, url)

    def close(self) -> None:
        """Release the crawl's connections."""
        self.engine.dispose()
