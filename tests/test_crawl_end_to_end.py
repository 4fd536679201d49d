"""The whole spine through real HTTP on 127.0.0.1: `kuroshio crawl` against the fixture web, twice.

The crawl runs as the real command in a subprocess (Scrapy's reactor runs once per process), and
the store is read back through the real `kuroshio articles` commands, run in this process with click's
CliRunner: a reading command in a new interpreter would prove nothing the crawls do not.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from databases import BACKENDS, POSTGRES_URL, reset_postgres_schema
from fixture_web import (
    KUROSHIO,
    SEED_CASES,
    expected,
    kuroshio,
    kuroshio_in_process,
    normalise_space,
    site_inventory,
    stored_articles,
    write_config,
)

from kuroshio.fixtures.server import DEFAULT_ROOT, FixtureWeb, ServedRequest


@dataclass
class TwoCrawls:
    """What the first and the second crawl of the unchanged fixture web did."""

    config: Path
    first: subprocess.CompletedProcess[str]
    first_requests: list[ServedRequest]
    second: subprocess.CompletedProcess[str]
    second_requests: list[ServedRequest]
    articles_after_first: list[dict]
    articles_after_second: list[dict]


# Every backend, and SQLite once more with extraction in a worker process (`crawl.extraction_workers`).
CRAWL_SETUPS = [*BACKENDS, "sqlite+extraction-worker"]


@pytest.fixture(scope="module", params=CRAWL_SETUPS)
def two_crawls(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoCrawls]:
    folder = tmp_path_factory.mktemp("crawl")
    if request.param.startswith("sqlite"):
        database_url = f"sqlite:///{folder / 'kuroshio.db'}"
    else:
        reset_postgres_schema(POSTGRES_URL)
        database_url = POSTGRES_URL
    with FixtureWeb() as web:
        config = write_config(folder / "kuroshio.toml", database_url=database_url, proxy=web.proxy_url)
        if request.param.endswith("+extraction-worker"):
            config.write_text(config.read_text().replace("[crawl]\n", "[crawl]\nextraction_workers = 1\n", 1))
        first = kuroshio(config, "crawl")
        first_requests = web.requests
        articles_after_first = stored_articles(config)
        web.clear_log()
        second = kuroshio(config, "crawl")
        second_requests = web.requests
        articles_after_second = stored_articles(config)
    yield TwoCrawls(config, first, first_requests, second, second_requests, articles_after_first,
                    articles_after_second)


def article_urls(kind_filter) -> set[str]:
    return {url for url, page in site_inventory().items() if kind_filter(page)}


def test_first_crawl_exits_zero_with_a_summary_per_source(two_crawls):
    assert two_crawls.first.returncode == 0, two_crawls.first.stderr
    summary = two_crawls.first.stdout
    for source in ("focus-taiwan", "kyodo", "taiwan-news"):
        assert any(line.startswith(source) and " ok " in line for line in summary.splitlines()), summary


@pytest.mark.parametrize("case", SEED_CASES)
def test_seed_articles_are_stored_exactly(two_crawls, case):
    fields = expected(case)
    [article] = [a for a in two_crawls.articles_after_first if a["canonical_url"] == fields["canonical_url"]]
    assert normalise_space(article["text"]) == normalise_space(fields["body"])
    assert article["title"] == fields["title"]
    assert article["authors"] == fields["authors"]
    assert article["published"] == fields["published"]
    assert article["language"] == fields["language"]
    assert article["source"] == fields["source"]
    assert [topic["name"] for topic in article["topics"]] == fields["topics"]
    for snippet in fields["without"]:
        assert snippet not in article["text"]


def test_off_topic_articles_are_stored_but_match_no_topic(two_crawls):
    off_topic = article_urls(lambda page: page["kind"].startswith("off-topic"))
    stored = {a["canonical_url"]: a for a in two_crawls.articles_after_first}
    assert off_topic <= set(stored)
    assert all(stored[url]["topics"] == [] for url in off_topic)


def test_only_the_seed_articles_are_listed_as_relevant(two_crawls):
    relevant = kuroshio_in_process(two_crawls.config, "articles", "list", "--format", "jsonl")
    urls = {json.loads(line)["canonical_url"] for line in relevant.stdout.splitlines()}
    assert urls == {expected(case)["canonical_url"] for case in SEED_CASES}


def test_a_story_under_two_urls_is_one_article(two_crawls):
    distinct = article_urls(lambda page: page["kind"] in ("seed",) or page["kind"].startswith("off-topic"))
    stored = [a["canonical_url"] for a in two_crawls.articles_after_first]
    assert sorted(stored) == sorted(distinct)
    duplicates = {url: page["kind"].split(":", 1)[1] for url, page in site_inventory().items()
                  if page["kind"].startswith("duplicate-of:")}
    assert duplicates
    for alias, original in duplicates.items():
        shown = kuroshio_in_process(two_crawls.config, "articles", "show", alias, "--format", "json")
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout)["canonical_url"] == original


def test_bad_pages_are_counted_and_listed_and_the_crawl_goes_on(two_crawls):
    gone = article_urls(lambda page: page["kind"] == "gone")
    no_article = article_urls(lambda page: page["kind"] == "no-article")
    summary = two_crawls.first.stdout
    for url in gone:
        assert f"{url}: HTTP 404" in summary
    for url in no_article:
        assert f"{url}: no content" in summary
    runs = kuroshio_in_process(two_crawls.config, "runs", "--source", "focus-taiwan")
    assert "ok" in runs.stdout and str(len(gone) + len(no_article)) in runs.stdout


def test_second_crawl_fetches_no_article_page_again_and_stores_nothing(two_crawls):
    assert two_crawls.second.returncode == 0, two_crawls.second.stderr
    fetched_again = {request.url.split("?")[0] for request in two_crawls.second_requests}
    articles = article_urls(lambda page: page["kind"] != "gone")
    assert two_crawls.second_requests, "the second crawl must still read feeds and listings"
    assert not (fetched_again & {url.split("?")[0] for url in articles})
    assert two_crawls.articles_after_second == two_crawls.articles_after_first


def test_first_crawl_fetched_every_article_page_once(two_crawls):
    fetched = [request.url for request in two_crawls.first_requests]
    for url in article_urls(lambda page: page["kind"] in ("seed", "no-article", "gone")
                            or page["kind"].startswith("off-topic")):
        assert fetched.count(url) == 1, url


def test_every_request_names_kuroshio_and_stays_on_configured_hosts(two_crawls):
    hosts = {"focustaiwan.test", "feeds.feedburner.test", "english.kyodonews.test", "www.taiwannews.test"}
    for request in two_crawls.first_requests:
        assert request.user_agent.startswith("Kuroshio/"), request
        assert request.host in hosts, request


def test_robots_txt_is_read_before_any_page_of_its_host(two_crawls):
    seen_robots: set[str] = set()
    for request in two_crawls.first_requests:
        if request.path == "/robots.txt":
            seen_robots.add(request.host)
        else:
            assert request.host in seen_robots, f"{request.url} fetched before {request.host}/robots.txt"


def test_articles_search_finds_stored_text(two_crawls):
    found = kuroshio_in_process(two_crawls.config, "articles", "search", "Kumamoto", "--format", "jsonl")
    assert found.returncode == 0, found.stderr
    titles = [json.loads(line)["title"] for line in found.stdout.splitlines()]
    assert titles == [expected("focus-taiwan-kung")["title"]]


def test_sources_shows_each_source_with_its_last_run(two_crawls):
    listing = kuroshio_in_process(two_crawls.config, "sources")
    assert listing.returncode == 0
    for source in ("focus-taiwan", "kyodo", "taiwan-news"):
        assert any(line.startswith(source) and " ok " in line for line in listing.stdout.splitlines())


def test_a_source_with_only_an_atom_feed_gets_generic_extraction(tmp_path):
    sources = '[[sources]]\nname = "tn-atom"\nfeeds = ["http://www.taiwannews.test/en/atom.xml"]\n' \
              'allowed_domains = ["www.taiwannews.test"]\nrobots_sitemaps = false\n'
    with FixtureWeb() as web:
        config = write_config(tmp_path / "k.toml", database_url=f"sqlite:///{tmp_path / 'k.db'}",
                              proxy=web.proxy_url, sources=sources)
        result = kuroshio(config, "crawl")
    assert result.returncode == 0, result.stderr
    lai = expected("taiwan-news-lai")
    [article] = [a for a in stored_articles(config) if a["canonical_url"] == lai["canonical_url"]]
    assert normalise_space(article["text"]) == normalise_space(lai["body"])
    assert article["source"] == "tn-atom"


def test_a_crawl_where_every_source_fails_exits_nonzero_and_records_why(tmp_path):
    sources = '[[sources]]\nname = "dead-rss"\nfeeds = ["http://english.kyodonews.test/rss/news.xml"]\n' \
              'robots_sitemaps = false\n'
    with FixtureWeb() as web:
        config = write_config(tmp_path / "k.toml", database_url=f"sqlite:///{tmp_path / 'k.db'}",
                              proxy=web.proxy_url, sources=sources)
        result = kuroshio(config, "crawl")
        assert [r.status for r in web.requests if r.path == "/rss/news.xml"] == [404]
    assert result.returncode == 1
    assert "dead-rss: discovered no article links" in result.stdout
    runs = kuroshio_in_process(config, "runs")
    assert "failed" in runs.stdout and "HTTP 404" in runs.stdout


def test_a_bad_config_exits_2_naming_file_and_key_and_touches_nothing(tmp_path):
    database = tmp_path / "never.db"
    config = tmp_path / "bad.toml"
    config.write_text(f'[storage]\nurl = "sqlite:///{database}"\n[crawl]\ntimeout = "soon"\n', encoding="utf-8")
    result = kuroshio_in_process(config, "crawl")
    assert result.returncode == 2
    assert result.stderr.strip() == f"kuroshio: config error: {config}: crawl.timeout: expected int or float, got str 'soon'"
    assert not database.exists()


def test_an_unknown_source_name_is_refused(tmp_path):
    config = write_config(tmp_path / "k.toml", database_url=f"sqlite:///{tmp_path / 'k.db'}", proxy="http://127.0.0.1:9")
    result = kuroshio_in_process(config, "crawl", "--source", "nhk")
    assert result.returncode == 2
    assert "unknown source 'nhk'" in result.stderr


def test_articles_list_filters_by_topic_and_date_and_limits(two_crawls):
    since = kuroshio_in_process(two_crawls.config, "articles", "list", "--topic", "taiwan-japan", "--since", "2025-01-01",
                     "--format", "json")
    assert since.returncode == 0, since.stderr
    titles = [article["title"] for article in json.loads(since.stdout)]
    assert titles == [expected("focus-taiwan-kung")["title"], expected("taiwan-news-lai")["title"]]
    limited = kuroshio_in_process(two_crawls.config, "articles", "list", "--limit", "1", "--format", "jsonl")
    assert len(limited.stdout.splitlines()) == 1


def test_articles_list_as_csv_and_table(two_crawls):
    as_csv = kuroshio_in_process(two_crawls.config, "articles", "list", "--format", "csv")
    rows = as_csv.stdout.splitlines()
    assert rows[0].startswith("id,published,source,title,url,topics,")  # then the other fields
    assert len(rows) == 1 + len(SEED_CASES)
    table = kuroshio_in_process(two_crawls.config, "articles", "list")
    assert table.stdout.splitlines()[0].split() == ["id", "published", "source", "title", "topics"]
    assert expected("kyodo-ko")["title"][:40] in table.stdout


def test_a_bad_since_date_is_refused_with_exit_2(two_crawls):
    result = kuroshio_in_process(two_crawls.config, "articles", "list", "--since", "last tuesday")
    assert result.returncode == 2
    assert "--since" in result.stderr and "expected an ISO date" in result.stderr


def test_articles_show_prints_metadata_and_text(two_crawls):
    fields = expected("focus-taiwan-kung")
    shown = kuroshio_in_process(two_crawls.config, "articles", "show", fields["url"])
    assert shown.returncode == 0
    assert shown.stdout.startswith(fields["title"] + "\n")
    assert "authors:   Tseng Yun-ting, Frances Huang" in shown.stdout
    assert "published: 2025-12-02T20:18:00+08:00" in shown.stdout
    missing = kuroshio_in_process(two_crawls.config, "articles", "show", "999999")
    assert missing.returncode == 1 and "no article" in missing.stderr


def test_a_source_whose_new_pages_all_fail_is_recorded_failed(tmp_path):
    gone = sorted(url for url, page in site_inventory().items() if page["kind"] == "gone")
    sitemap = tmp_path / "overlay" / "focustaiwan.test" / "gone-sitemap.xml"
    sitemap.parent.mkdir(parents=True)
    sitemap.write_text('<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                       + "".join(f"<url><loc>{url}</loc></url>" for url in gone) + "</urlset>", encoding="utf-8")
    sources = '[[sources]]\nname = "all-gone"\nsitemaps = ["http://focustaiwan.test/gone-sitemap.xml"]\n' \
              'robots_sitemaps = false\n'
    with FixtureWeb(roots=[tmp_path / "overlay", DEFAULT_ROOT]) as web:
        config = write_config(tmp_path / "k.toml", database_url=f"sqlite:///{tmp_path / 'k.db'}",
                              proxy=web.proxy_url, sources=sources)
        result = kuroshio(config, "crawl")
        assert [r.status for r in web.requests if r.url in gone] == [404] * len(gone)
    assert result.returncode == 1
    assert f"all-gone: none of {len(gone)} new article pages could be stored" in result.stdout


def test_demo_crawls_the_bundled_web_into_a_fresh_database(tmp_path):
    database = tmp_path / "demo.db"
    for _ in range(2):  # the second run starts from a fresh database again
        result = subprocess.run([str(KUROSHIO), "demo", "--database", str(database)], capture_output=True,
                                text=True, timeout=180, check=False)
        assert result.returncode == 0, result.stderr
        assert f"Relevant articles ({len(SEED_CASES)}):" in result.stdout
    for case in SEED_CASES:
        assert expected(case)["title"][:40] in result.stdout


def test_db_upgrade_creates_the_schema(tmp_path):
    database = tmp_path / "fresh.db"
    config = tmp_path / "k.toml"
    config.write_text(f'[storage]\nurl = "sqlite:///{database}"\n', encoding="utf-8")
    result = kuroshio_in_process(config, "db", "upgrade")
    assert result.returncode == 0, result.stderr
    assert "schema is up to date" in result.stdout
    assert database.exists()
    assert kuroshio_in_process(config, "runs").returncode == 0


@pytest.mark.parametrize("concurrency", [1, 3])
def test_per_domain_concurrency_is_honoured_even_without_a_delay(tmp_path, concurrency):
    """Guards against Scrapy starting every queued request of a domain at once when the delay is 0."""
    overlay = tmp_path / "overlay"
    for article in (DEFAULT_ROOT / "english.kyodonews.test" / "articles" / "-").glob("*.html"):
        page = overlay / "english.kyodonews.test" / "articles" / "-" / article.name
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_bytes(article.read_bytes())
        page.with_name(page.name + ".headers.json").write_text('{"delay": 0.4}', encoding="utf-8")
    sources = '[[sources]]\nname = "kyodo"\nlisting_pages = ["http://english.kyodonews.test/news/asia"]\n' \
              "article_url_pattern = '/articles/-/\\d+'\nrobots_sitemaps = false\n"
    with FixtureWeb(roots=[overlay, DEFAULT_ROOT]) as web:
        config = write_config(tmp_path / "k.toml", database_url=f"sqlite:///{tmp_path / 'k.db'}",
                              proxy=web.proxy_url, sources=sources)
        config.write_text(config.read_text().replace("concurrent_per_domain = 4",
                                                     f"concurrent_per_domain = {concurrency}"))
        result = kuroshio(config, "crawl")
        assert result.returncode == 0, result.stderr
        assert web.most_in_flight("english.kyodonews.test") == concurrency
