"""Item → store: match each crawled article against the topics and write it in one transaction.

Settings (set per crawl by `crawler.run`): `KUROSHIO_DATABASE_URL`, `KUROSHIO_RUN_ID`,
`KUROSHIO_TOPICS`. Every extracted article is stored, relevant or not; duplicates (a known URL,
canonical link or identical text) only add their URLs as aliases.
"""

from __future__ import annotations

import logging

from scrapy.crawler import Crawler
from sqlalchemy.exc import SQLAlchemyError

from crawler.article import CrawledArticle
from crawler.topics import match_topics
from storage.engine import create_engine_for, session_factory
from storage.repo import store_article

logger = logging.getLogger(__name__)


class StorePipeline:
    """Stores articles; counts new, relevant and duplicate ones in the crawl's stats."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.topics = crawler.settings.get("KUROSHIO_TOPICS") or ()
        self.run_id = crawler.settings.getint("KUROSHIO_RUN_ID") or None
        self.engine = create_engine_for(crawler.settings["KUROSHIO_DATABASE_URL"])
        self.sessions = session_factory(self.engine)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StorePipeline:
        return cls(crawler)

    def close_spider(self) -> None:
        self.engine.dispose()

    def process_item(self, item: CrawledArticle) -> CrawledArticle:
        article = item.article
        stats = self.crawler.stats
        matches = match_topics(self.topics, title=article.title, text=article.text)
        try:
            with self.sessions() as session:
                result = store_article(
                    session, article, matches=matches, crawl_run_id=self.run_id, seen_urls=item.seen_urls
                )
        except (SQLAlchemyError, ValueError) as error:
            # Not stored, so not known: the next crawl fetches this URL again.
            self.crawler.spider.record_error(article.url, f"store failed: {error.__class__.__name__}: {error}")
            return item
        if result.created:
            stats.inc_value("kuroshio/articles_new")
            if matches:
                stats.inc_value("kuroshio/articles_relevant")
        else:
            stats.inc_value("kuroshio/duplicates_stored_as_alias")
        return item
