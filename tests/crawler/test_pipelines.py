"""The store pipeline: articles stored in batches, and what one bad article costs its batch."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import scrapy
from scrapy.crawler import Crawler
from scrapy.utils.test import get_crawler
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from kuroshio.crawler.items import CrawledArticle
from kuroshio.crawler.pipelines import STORE_BATCH_SIZE, StorePipeline
from kuroshio.storage import articles as stored_articles
from kuroshio.storage.engine import create_engine_for, session_factory, upgrade_schema
from kuroshio.storage.models import Article
from kuroshio.storage.records import ExtractedArticle, TopicMatch

ON_TOPIC = (TopicMatch(topic="taiwan-japan", score=4.0, terms=("taiwan", "japan")),)


class RecordingSpider(scrapy.Spider):
    """Stands in for SourceSpider: the pipeline reports failures through `record_error`."""

    name = "recording"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.errors: list[tuple[str, str]] = []

    def record_error(self, url: str, reason: str) -> None:
        self.errors.append((url, reason))


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'kuroshio.db'}"
    engine = create_engine_for(url)
    upgrade_schema(engine)
    engine.dispose()
    return url


@pytest.fixture
def crawler(database_url: str) -> Iterator[Crawler]:
    crawler = get_crawler(RecordingSpider, {"KUROSHIO_DATABASE_URL": database_url})
    crawler.spider = RecordingSpider()
    crawler.stats.open_spider()
    yield crawler


def crawled(number: int) -> CrawledArticle:
    article = ExtractedArticle(url=f"https://news.example/{number}", canonical_url=f"https://news.example/{number}",
                               source="example", title=f"Story {number}", text=f"The text of story {number}.")
    return CrawledArticle(article, matches=ON_TOPIC if number % 2 else ())


def stored_titles(database_url: str) -> list[str]:
    engine = create_engine_for(database_url)
    try:
        with session_factory(engine)() as session:
            return list(session.scalars(select(Article.title).order_by(Article.id)))
    finally:
        engine.dispose()


def test_a_full_batch_is_stored_at_once_and_the_rest_when_the_spider_closes(crawler: Crawler,
                                                                           database_url: str) -> None:
    pipeline = StorePipeline(crawler)
    for number in range(STORE_BATCH_SIZE + 3):
        pipeline.process_item(crawled(number))
        if number == STORE_BATCH_SIZE - 2:
            assert stored_titles(database_url) == []  # still waiting for its batch
    assert len(stored_titles(database_url)) == STORE_BATCH_SIZE

    pipeline.close_spider()

    assert stored_titles(database_url) == [f"Story {number}" for number in range(STORE_BATCH_SIZE + 3)]
    assert crawler.stats.get_value("kuroshio/articles_new") == STORE_BATCH_SIZE + 3
    assert crawler.stats.get_value("kuroshio/articles_relevant") == (STORE_BATCH_SIZE + 3) // 2


def test_an_article_breaking_a_constraint_costs_only_itself_not_its_batch(
    crawler: Crawler, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_insert = stored_articles._insert_article
    refused: list[str] = []

    def refuse_story_2(session: Any, item: stored_articles.ArticleToStore, **options: Any) -> Article:
        if item.article.title == "Story 2":
            refused.append(item.article.title)
            raise IntegrityError("INSERT INTO articles ...", {}, Exception("CHECK constraint failed"))
        return real_insert(session, item, **options)

    monkeypatch.setattr(stored_articles, "_insert_article", refuse_story_2)
    pipeline = StorePipeline(crawler)
    for number in range(5):
        pipeline.process_item(crawled(number))
    pipeline.close_spider()

    assert refused == ["Story 2", "Story 2"]  # in the batch, then alone
    assert stored_titles(database_url) == ["Story 0", "Story 1", "Story 3", "Story 4"]
    [(url, reason)] = crawler.spider.errors
    assert url == "https://news.example/2" and reason.startswith("store failed: IntegrityError")
