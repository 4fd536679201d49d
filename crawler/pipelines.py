"""Item → store: store each crawled article with the topics it matched, in batches.

Settings (set per crawl by `kuroshio.crawler.run`): `KUROSHIO_DATABASE_URL`, `KUROSHIO_RUN_ID`. Every extracted
article is stored, relevant or not; duplicates (a known URL, canonical link or identical text) only add
their URLs as aliases.

Articles are written `STORE_BATCH_SIZE` at a time, one transaction per batch: a commit per article
cost more than the rest of storing it. A batch waits at most `STORE_BATCH_SECONDS`, so a slow crawl
still stores (and shows) its articles as it goes, and the last one is written when the spider closes.
An article that is not stored is not known, so the next crawl fetches it again: a batch lost to a
crash or a failed write costs refetching, never an article.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from scrapy.crawler import Crawler
from scrapy.utils.asyncio import AsyncioLoopingCall, create_looping_call
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from twisted.internet.task import LoopingCall

from kuroshio.crawler.items import CrawledArticle
from kuroshio.storage.articles import ArticleToStore, store_articles
from kuroshio.storage.engine import create_engine_for, session_factory

STORE_BATCH_SIZE = 50
STORE_BATCH_SECONDS = 2.0


class StorePipeline:
    """Stores articles; counts new, relevant and duplicate ones in the crawl's stats."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.run_id = crawler.settings.getint("KUROSHIO_RUN_ID") or None
        self.engine = create_engine_for(crawler.settings["KUROSHIO_DATABASE_URL"])
        self.sessions = session_factory(self.engine)
        self.batch: list[ArticleToStore] = []
        self.timer: AsyncioLoopingCall | LoopingCall | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StorePipeline:
        return cls(crawler)

    def open_spider(self) -> None:
        self.timer = create_looping_call(self.store_batch)  # needs the running reactor
        self.timer.start(STORE_BATCH_SECONDS, now=False)

    def close_spider(self) -> None:
        if self.timer is not None and self.timer.running:
            self.timer.stop()
        self.store_batch()
        self.engine.dispose()

    def _record_error(self, url: str, reason: str) -> None:
        """Report a page the store refused to the spider, which counts it among the run's errors."""
        spider: Any = self.crawler.spider  # SourceSpider, or a stand-in with `record_error` in tests
        spider.record_error(url, reason)

    def process_item(self, item: CrawledArticle) -> CrawledArticle:
        try:
            self.batch.append(ArticleToStore(item.article, matches=item.matches, seen_urls=item.seen_urls))
        except ValueError as error:
            self._record_error(item.article.url, f"store failed: {error}")
            return item
        if len(self.batch) >= STORE_BATCH_SIZE:
            self.store_batch()
        return item

    def store_batch(self) -> None:
        """Write the waiting articles in one transaction."""
        batch, self.batch = self.batch, []
        if batch:
            self._store(batch)

    def _store(self, batch: list[ArticleToStore]) -> None:
        """Store `batch`, or record each of its URLs with why it was not stored.

        An article that breaks a constraint no duplicate explains fails its whole transaction; its
        batch is then stored an article at a time, so that only that article is left out.
        """
        try:
            with self.sessions() as session:
                results = store_articles(session, batch, crawl_run_id=self.run_id, now=datetime.now(timezone.utc))
        except SQLAlchemyError as error:
            if isinstance(error, IntegrityError) and len(batch) > 1:
                for item in batch:
                    self._store([item])
                return
            # The driver's message ("database or disk is full"), not SQLAlchemy's copy of the statement.
            reason = f"store failed: {error.__class__.__name__}: {getattr(error, 'orig', None) or error}"
            for item in batch:
                self._record_error(item.article.url, reason)
            return
        stats = self.crawler.stats
        for item, result in zip(batch, results):
            if not result.created:
                stats.inc_value("kuroshio/duplicates_stored_as_alias")
                continue
            stats.inc_value("kuroshio/articles_new")
            if item.matches:
                stats.inc_value("kuroshio/articles_relevant")
