"""`kuroshio feed`: the real command's feeds of a store filled by real crawls of the fixture web.

Done means feeds that validate and stay the same across re-crawls: the fixture web is crawled, the feed
written, the web crawled again and the feed written again (same bytes); then a second store is built
by crawling in another order, meeting a story first under an alias URL, and its feed gives every story
the same entry id. The crawls and the first feeds run the installed command in a new process; the
option and error cases run the same click command in this process (`kuroshio_in_process`).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest
from atom_validation import parse_valid_feed
from databases import BACKENDS, POSTGRES_URL, reset_postgres_schema
from fixture_web import DEMO_CONFIG, KUROSHIO, SEED_CASES, expected, kuroshio, kuroshio_in_process, write_config

from kuroshio.crawler.topics import DEFAULT_TOPIC_NAME, match_topics
from kuroshio.fixtures.server import DEFAULT_ROOT, FixtureWeb
from kuroshio.scheduler.config import load_config
from kuroshio.storage.articles import store_article
from kuroshio.storage.engine import create_engine_for, session_factory, upgrade_schema
from kuroshio.storage.records import ExtractedArticle

LAI = expected("taiwan-news-lai")
# The Lai story's two URLs: its canonical one, and the same page without /en/ (its canonical link /en/...).
LAI_URLS = (LAI["canonical_url"], "http://www.taiwannews.test/news/6113842")
ALIAS_SITEMAP = """<?xml version="1.0" encoding="UTF-8"?>
<!-- Taiwan News's English sitemap naming the Lai story under one URL: the rebuilt store meets it there -->
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc>{url}</loc></url>
</urlset>
"""


@dataclass
class Crawled:
    """Feeds of the fixture web's store after one crawl and after a re-crawl, and of a rebuilt store."""

    config: Path
    second_crawl: subprocess.CompletedProcess[str]
    after_first: bytes
    after_second: bytes
    articles: list[dict]
    rebuilt_feed: bytes
    rebuilt_articles: list[dict]


def feed(config: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    """The installed `kuroshio feed` in a new process, its stdout as bytes."""
    return subprocess.run([str(KUROSHIO), "--config", str(config), "feed", *args], capture_output=True,
                          timeout=120, check=False)


def listing(config: Path) -> list[dict]:
    result = kuroshio_in_process(config, "articles", "list", "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def crawl(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = kuroshio(config, "crawl", *args)
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module", params=BACKENDS)
def crawled(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crawled]:
    folder = tmp_path_factory.mktemp("feeds")
    if request.param == "sqlite":
        database_url = f"sqlite:///{folder / 'kuroshio.db'}"
    else:
        reset_postgres_schema(POSTGRES_URL)
        database_url = POSTGRES_URL
    with FixtureWeb() as web:
        config = write_config(folder / "kuroshio.toml", database_url=database_url, proxy=web.proxy_url)
        crawl(config, "--source", "taiwan-news")  # first, so its story has a low row id here
        crawl(config)
        after_first = feed(config)
        assert after_first.returncode == 0, after_first.stderr
        second_crawl = crawl(config)
        after_second = feed(config)
    articles = listing(config)
    [stored_as] = [article["url"] for article in articles if article["canonical_url"] == LAI["canonical_url"]]
    [alias] = [url for url in LAI_URLS if url != stored_as]
    rebuilt_feed, rebuilt_articles = _rebuilt_store(folder, alias)
    yield Crawled(config, second_crawl, after_first.stdout, after_second.stdout, articles, rebuilt_feed,
                  rebuilt_articles)


def _rebuilt_store(folder: Path, alias: str) -> tuple[bytes, list[dict]]:
    """A new store (SQLite, whatever the first one's backend) crawled from the same web in another order:
    the other sources first, then Taiwan News through a sitemap naming the Lai story only under `alias`,
    the URL the first store did not store it under (which one the first crawl met first is its race)."""
    overlay = folder / "overlay"
    (overlay / "www.taiwannews.test").mkdir(parents=True)
    (overlay / "www.taiwannews.test" / "sitemap_en.xml").write_text(ALIAS_SITEMAP.format(url=alias),
                                                                    encoding="utf-8")
    demo = DEMO_CONFIG.read_text(encoding="utf-8")
    other_sources = demo[demo.index("[[sources]]"):demo.index('[[sources]]\nname = "taiwan-news"')]
    alias_only = ('[[sources]]\nname = "taiwan-news"\nsitemaps = ["http://www.taiwannews.test/sitemap_en.xml"]\n'
                  "article_url_pattern = '^https?://www\\.taiwannews\\.test/(?:en/)?news/\\d+$'\n"
                  'allowed_domains = ["www.taiwannews.test"]\npublisher = "taiwan-news"\nrobots_sitemaps = false\n')
    with FixtureWeb(roots=[overlay, DEFAULT_ROOT]) as web:
        config = write_config(folder / "rebuilt.toml", database_url=f"sqlite:///{folder / 'rebuilt.db'}",
                              proxy=web.proxy_url, sources=other_sources + alias_only)
        crawl(config, "--source", "focus-taiwan", "--source", "kyodo")
        crawl(config, "--source", "taiwan-news")
        result = feed(config)
        assert result.returncode == 0, result.stderr
    return result.stdout, listing(config)


def entry_ids(document: bytes) -> dict[str, str]:
    """Each entry's id by its link."""
    return {entry.link: entry.id for entry in parse_valid_feed(document).entries}


def test_the_feed_is_valid_atom_of_the_relevant_articles(crawled: Crawled) -> None:
    parsed = parse_valid_feed(crawled.after_first)
    assert {entry.link for entry in parsed.entries} == {expected(case)["canonical_url"] for case in SEED_CASES}
    [lai] = [entry for entry in parsed.entries if entry.link == LAI["canonical_url"]]
    assert lai.title == LAI["title"] and lai.published == LAI["published"]
    assert [author.name for author in lai.authors] == LAI["authors"] and lai.source.title == "taiwan-news"
    assert [tag.term for tag in lai.tags] == [DEFAULT_TOPIC_NAME]


def test_a_recrawl_changes_no_byte_of_the_feed(crawled: Crawled) -> None:
    assert "taiwan-news" in crawled.second_crawl.stdout
    assert crawled.after_second == crawled.after_first
    ids = [entry.id for entry in parse_valid_feed(crawled.after_second).entries]
    assert len(ids) == len(set(ids)) == len(SEED_CASES)


def test_a_store_rebuilt_through_an_alias_gives_every_story_the_same_entry_id(crawled: Crawled) -> None:
    [first] = [a for a in crawled.articles if a["canonical_url"] == LAI["canonical_url"]]
    [rebuilt] = [a for a in crawled.rebuilt_articles if a["canonical_url"] == LAI["canonical_url"]]
    assert {first["url"], rebuilt["url"]} == set(LAI_URLS)  # each store met it under another URL first
    assert first["id"] != rebuilt["id"]  # so a row id would have named it differently
    assert entry_ids(crawled.rebuilt_feed) == entry_ids(crawled.after_first)


def test_no_topic_and_all_are_the_feed_of_every_relevant_article(crawled: Crawled) -> None:
    everything = kuroshio_in_process(crawled.config, "feed", "all", text=False)
    assert everything.returncode == 0 and everything.stdout == crawled.after_second
    topic = kuroshio_in_process(crawled.config, "feed", DEFAULT_TOPIC_NAME, text=False)
    parsed = parse_valid_feed(topic.stdout)
    assert parsed.feed.id == f"tag:kuroshio,2026:feed/topic/{DEFAULT_TOPIC_NAME}"
    assert entry_ids(topic.stdout) == entry_ids(crawled.after_second)


def test_an_unknown_topic_exits_2_naming_the_known_ones(crawled: Crawled) -> None:
    result = kuroshio_in_process(crawled.config, "feed", "taiwan-korea")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"kuroshio: unknown topic 'taiwan-korea'; known: {DEFAULT_TOPIC_NAME}\n"


def test_limit_keeps_the_newest_and_self_url_becomes_the_self_link(crawled: Crawled) -> None:
    result = kuroshio_in_process(crawled.config, "feed", "--limit", "1", "--self-url",
                                 "https://feeds.example.org/all.xml", text=False)
    parsed = parse_valid_feed(result.stdout)
    newest = max(parse_valid_feed(crawled.after_first).entries, key=lambda entry: entry.published)
    assert [entry.id for entry in parsed.entries] == [newest.id]
    assert [(link.rel, link.href) for link in parsed.feed.links] == [("self", "https://feeds.example.org/all.xml")]


def test_a_self_url_that_is_no_http_link_exits_2(crawled: Crawled) -> None:
    result = kuroshio_in_process(crawled.config, "feed", "--self-url", "javascript:alert(1)")
    assert result.returncode == 2 and result.stdout == ""
    assert "--self-url" in result.stderr and "'javascript:alert(1)' is not a plain http(s) URL" in result.stderr


def test_out_replaces_the_file_whole_and_readable(crawled: Crawled, tmp_path: Path) -> None:
    out = tmp_path / "www" / "taiwan-japan.xml"
    out.parent.mkdir()
    out.write_bytes(b"the previous feed")
    os.chmod(out, 0o600)
    mask = os.umask(0o022)
    try:
        result = kuroshio_in_process(crawled.config, "feed", DEFAULT_TOPIC_NAME, "--out", str(out), text=False)
    finally:
        os.umask(mask)
    assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")
    assert entry_ids(out.read_bytes()) == entry_ids(crawled.after_first)
    assert out.stat().st_mode & 0o777 == 0o644  # a web server's user reads it
    assert [path.name for path in out.parent.iterdir()] == [out.name]  # no temporary file left


def test_out_into_a_missing_directory_is_one_line_and_exit_1(crawled: Crawled, tmp_path: Path) -> None:
    out = tmp_path / "missing" / "feed.xml"
    result = kuroshio_in_process(crawled.config, "feed", "--out", str(out))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"kuroshio: cannot write the feed to {out}: No such file or directory\n"


def test_a_hostile_stored_article_gives_a_valid_feed_of_inert_text(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'hostile.db'}"
    config = write_config(tmp_path / "hostile.toml", database_url=database_url, proxy="http://127.0.0.1:9")
    engine = create_engine_for(database_url)
    upgrade_schema(engine)
    title = "Taiwan & Japan <script>alert('x')</script> ]]> \x1b[31m\u202egnp.exe"
    hostile = ExtractedArticle(url="http://hostile.test/1", canonical_url="http://hostile.test/1", source="hostile",
                               title=title, text="Taiwan and Japan <b>met</b>\x07 ]]>&amp;", authors=("A & B",),
                               published_at=datetime(2025, 12, 1, 8, tzinfo=timezone.utc))
    with session_factory(engine)() as session:
        store_article(session, hostile, matches=match_topics(load_config(config).topics, title=title,
                                                             text=hostile.text),
                      crawl_run_id=None, now=datetime(2025, 12, 1, 9, tzinfo=timezone.utc))
    engine.dispose()
    result = feed(config, "--full-text")
    assert result.returncode == 0, result.stderr
    [entry] = parse_valid_feed(result.stdout).entries
    assert entry.title == "Taiwan & Japan <script>alert('x')</script> ]]> [31m gnp.exe"
    assert entry.content[0].value == "Taiwan and Japan <b>met</b> ]]>&amp;"
    assert b"<script>" not in result.stdout and b"<b>" not in result.stdout
