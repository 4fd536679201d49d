"""Fixtures for the digest tests: a real SMTP server on 127.0.0.1, a migrated database seeded with the
fixture web's three on-topic articles, and a config file pointing at both (helpers: digest_support.py).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from digest_support import SEEN_AT, SEMICONDUCTOR_QUERY, TOPICS, SmtpServer, seed_article, toml_value
from fixture_web import SEED_CASES
from sqlalchemy.orm import Session, sessionmaker

from kuroshio.crawler.topics import DEFAULT_TOPIC_QUERY, match_topics
from kuroshio.scheduler.config import Config, load_config
from kuroshio.storage.articles import store_article
from kuroshio.storage.engine import create_engine_for, session_factory, upgrade_schema
from kuroshio.storage.records import ExtractedArticle


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A running SMTP server collecting what it accepts."""
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    """Sessions on a freshly migrated database."""
    engine = create_engine_for(database_url)
    upgrade_schema(engine)
    yield session_factory(engine)
    engine.dispose()


StoreFn = Callable[..., int]


@pytest.fixture
def store(sessions: sessionmaker[Session]) -> StoreFn:
    """`store(article, now=...)` stores an ExtractedArticle with the topics it matches; returns its id."""

    def store_one(article: ExtractedArticle, *, now: datetime = SEEN_AT) -> int:
        matches = match_topics(TOPICS, title=article.title, text=article.text)
        with sessions() as session:
            return store_article(session, article, matches=matches, crawl_run_id=None, now=now).article_id

    return store_one


@pytest.fixture
def seeded(store: StoreFn) -> dict[str, int]:
    """The three on-topic fixture-web articles, stored: case name → article id."""
    return {case: store(seed_article(case)) for case in SEED_CASES}


ConfigFn = Callable[..., Config]


@pytest.fixture
def make_config(tmp_path: Path, database_url: str, smtp_server: SmtpServer) -> ConfigFn:
    """`make_config(**digest_keys)` writes a config file (database, SMTP server, two topics, one digest
    called "morning") and loads it as the program does; `smtp=` overrides [smtp] keys, `digests=` replaces
    the digest with raw TOML tables."""

    numbers = itertools.count(1)

    def make(*, digests: str | None = None, smtp: dict[str, Any] | None = None, **digest_keys: Any) -> Config:
        keys = {"name": "morning", "to": ["analyst@example.org"], "timezone": "Asia/Taipei", **digest_keys}
        table = "[[digests]]\n" + "".join(f"{key} = {toml_value(value)}\n" for key, value in keys.items())
        smtp_keys = {"host": "127.0.0.1", "port": smtp_server.port, "sender": "Kuroshio <kuroshio@example.org>",
                     "timeout": 10, **(smtp or {})}
        smtp_table = "".join(f"{key} = {toml_value(value)}\n" for key, value in smtp_keys.items())
        document = f"""
[storage]
url = {toml_value(database_url)}

[smtp]
{smtp_table}
[[sources]]
name = "focus-taiwan"
feeds = ["http://feeds.feedburner.test/rsscna/engnews"]

[[sources]]
name = "kyodo"
listing_pages = ["http://english.kyodonews.test/"]
article_url_pattern = '/articles/-/\\d+'

[[sources]]
name = "taiwan-news"
listing_pages = ["http://www.taiwannews.test/en/"]
article_url_pattern = '/(en/)?news/\\d+$'

[[topics]]
name = "taiwan-japan"
query = {toml_value(DEFAULT_TOPIC_QUERY)}

[[topics]]
name = "semiconductors"
query = {toml_value(SEMICONDUCTOR_QUERY)}
min_score = 1

{digests if digests is not None else table}
"""
        path = tmp_path / f"kuroshio-{next(numbers)}.toml"
        path.write_text(document, encoding="utf-8")
        path.chmod(0o600)  # it may hold the PostgreSQL password: Kuroshio warns of a file others can read
        return load_config(path)

    return make
