"""Helpers shared by the storage tests: article factories' types, topic matches, and storing one article."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kuroshio.storage.articles import StoreResult, store_article
from kuroshio.storage.models import Article, ArticleURL
from kuroshio.storage.records import ExtractedArticle, TopicMatch

MakeArticle = Callable[..., ExtractedArticle]
RunTogether = Callable[[int, Callable[[int], None]], None]  # the `run_together` fixture
TAIPEI = timezone(timedelta(hours=8))
UTC = timezone.utc
TYPHOON = TopicMatch(topic="typhoon", score=0.9, terms=("typhoon", "颱風"))
ELECTION = TopicMatch(topic="election", score=0.4, terms=("election",))


def count_rows(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def stored_urls(session: Session) -> set[str]:
    """Every URL an article is stored under (its own, canonical and alias URLs)."""
    return set(session.scalars(select(ArticleURL.url)))


def store_one(session: Session, article: ExtractedArticle, *matches: TopicMatch, **options: Any) -> StoreResult:
    options.setdefault("crawl_run_id", None)
    options.setdefault("now", datetime.now(timezone.utc))
    return store_article(session, article, matches=matches, **options)


def names_of(articles: list[Article], ids: dict[str, int]) -> list[str]:
    """The fixture names of `articles`, in order, given each name's article id."""
    by_id = {article_id: name for name, article_id in ids.items()}
    return [by_id[article.id] for article in articles]
