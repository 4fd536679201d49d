"""Bounded crawls: a site whose sitemaps hold years of archive is crawled for its last days, decided before
anything is fetched; what has no date is capped per source per crawl, the cap noted in the run; and
`kuroshio crawl --since DATE` reaches further back for that crawl, still under the cap.

The big case — an index of five yearly sitemaps of 10,000 URLs each, as Kyodo's robots.txt names one per
year — is generated in the test's own root, dated from the moment the test runs; the small hand-written
case is `fixtures/hostile/bounded-crawls/` (see its README). Every crawl is the real command, and what
was fetched is read from the fixture web's request log.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from fixture_web import kuroshio, kuroshio_in_process
from hostile_crawl import HOSTILE, MeasuredCrawl, crawl_measured, hostile_config, last_run, stored_articles
from network_crawl import served, set_crawl_keys

from kuroshio.fixtures.server import FixtureWeb, ServedRequest

pytestmark = pytest.mark.faults

CASE = HOSTILE / "bounded-crawls"
ARCHIVE = "archive.news.test"
JST = timezone(timedelta(hours=9))
YEARS = 5
URLS_PER_SITEMAP = 10_000
RECENT = 40  # dated inside the default window (3 days)
STALE = 5  # dated less than a day before it: a lastmod that may lag
DEFAULT_WINDOW = '"3d"'  # crawl.max_age's default; the demo config the tests start from has none


@dataclass(frozen=True)
class Archive:
    """The generated site: its sitemaps newest first, and its articles newest first by lastmod."""

    sitemaps: list[str]
    recent: list[str]
    stale: list[str]


def generate_archive(root: Path, now: datetime) -> Archive:
    """An index of yearly sitemaps of `URLS_PER_SITEMAP` article URLs each (plain `<lastmod>`s), named by
    robots.txt; pages only for the articles of the last days."""
    host = root / ARCHIVE
    (host / "sitemaps").mkdir(parents=True)
    (host / "articles" / "-").mkdir(parents=True)
    (host / "robots.txt").write_text(f"User-agent: *\nDisallow: /search\n\nSitemap: http://{ARCHIVE}/sitemap-index.xml\n")
    sitemaps, recent, stale, number = [], [], [], 10_000_000
    for age in range(YEARS):
        url = f"http://{ARCHIVE}/sitemaps/{now.year - age}.xml"
        changed = now - timedelta(hours=2) if age == 0 else now - timedelta(days=365 * age)
        sitemaps.append((url, changed))
        if age == 0:
            dates = ([now - timedelta(hours=2 + 1.5 * n) for n in range(RECENT)]
                     + [now - timedelta(days=3, hours=2 + 3 * n) for n in range(STALE)]
                     + [now - timedelta(days=5, minutes=45 * n) for n in range(URLS_PER_SITEMAP - RECENT - STALE)])
        else:
            dates = [changed - timedelta(minutes=50 * n) for n in range(URLS_PER_SITEMAP)]
        entries = []
        for position, date in enumerate(dates):
            number -= 1
            article = f"http://{ARCHIVE}/articles/-/{number}"
            entries.append(f"<url><loc>{article}</loc><lastmod>{date.astimezone(JST).isoformat(timespec='seconds')}"
                           "</lastmod></url>")
            if age == 0 and position < RECENT + STALE:
                (recent if position < RECENT else stale).append(article)
                (host / "articles" / "-" / f"{number}.html").write_text(article_page(article, number))
        (host / "sitemaps" / f"{now.year - age}.xml").write_text(
            '<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
            + "\n".join(entries) + "\n</urlset>\n")
    index = "".join(f"<sitemap><loc>{url}</loc><lastmod>{changed.astimezone(JST).isoformat(timespec='seconds')}"
                    "</lastmod></sitemap>\n" for url, changed in sitemaps)
    (host / "sitemap-index.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
        f"{index}</sitemapindex>\n")
    return Archive([url for url, _ in sitemaps], recent, stale)


def article_page(url: str, number: int) -> str:
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Harbour report {number}</title>"
            f"<link rel=\"canonical\" href=\"{url}\"></head><body><main><article><h1>Harbour report {number}</h1>"
            f"<p>The harbour bureau counted {number} containers through the port this week, a figure it said "
            "reflected new calls by shipping lines on routes to Japan and Southeast Asia.</p>"
            f"<p>Officials expected report {number} to be followed by similar figures through the coming quarter, "
            "as more operators joined the scheme and the new quay opened to traffic.</p></article></main></body></html>\n")


@dataclass(frozen=True)
class ArchiveCrawl:
    archive: Archive
    crawl: MeasuredCrawl
    requests: list[ServedRequest]
    run: dict


# As Kyodo is configured: its home page (here linking only sections), and the sitemaps robots.txt names.
ARCHIVE_SOURCE = (f'[[sources]]\nname = "archive"\nlisting_pages = ["http://{ARCHIVE}/"]\n'
                  "article_url_pattern = '/articles/-/\\d+$'\n")


def crawl_archive(folder: Path, archive_root: Path, *args: str) -> tuple[MeasuredCrawl, list[ServedRequest], dict]:
    """`kuroshio crawl *args` of the archive with the default window, into a store of its own."""
    with FixtureWeb(roots=[archive_root]) as web:
        config = set_crawl_keys(hostile_config(folder, proxy=web.proxy_url, sources=ARCHIVE_SOURCE),
                                max_age=DEFAULT_WINDOW)
        result = kuroshio(config, "crawl", *args)
        crawl = MeasuredCrawl(result.returncode, result.stdout, result.stderr, 0.0, 0, 0.0)
        return crawl, web.requests, last_run(folder, "archive")


@pytest.fixture(scope="module")
def archive_root(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Archive]:
    root = tmp_path_factory.mktemp("archive-web")
    (root / ARCHIVE).mkdir()
    archive = generate_archive(root, datetime.now(timezone.utc))
    (root / ARCHIVE / "index.html").write_text(
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Archive News</title></head><body>'
        '<nav><a href="/news/japan">Japan</a> <a href="/news/asia">Asia</a></nav></body></html>\n')
    return root, archive


@pytest.fixture(scope="module")
def first_crawl(archive_root, tmp_path_factory: pytest.TempPathFactory) -> ArchiveCrawl:
    root, archive = archive_root
    crawl, requests, run = crawl_archive(tmp_path_factory.mktemp("first-crawl"), root)
    return ArchiveCrawl(archive, crawl, requests, run)


def article_requests(requests: list[ServedRequest]) -> list[str]:
    return [r.url for r in requests if r.path.startswith("/articles/")]


def test_the_archive_offers_50000_urls_in_five_yearly_sitemaps(archive_root):
    """The bad path is there: what a crawl without a window would fetch."""
    root, archive = archive_root
    assert len(archive.sitemaps) == YEARS
    assert sum(path.read_text().count("<url>") for path in (root / ARCHIVE / "sitemaps").glob("*.xml")) == 50_000


def test_the_first_crawl_reads_only_this_years_sitemap(first_crawl):
    assert first_crawl.crawl.returncode == 0, first_crawl.crawl.stderr
    sitemaps = [r.url for r in first_crawl.requests if r.path.startswith("/sitemap")]
    assert sitemaps == [f"http://{ARCHIVE}/sitemap-index.xml", first_crawl.archive.sitemaps[0]]


def test_the_first_crawl_fetches_only_the_articles_of_the_window(first_crawl):
    fetched = article_requests(first_crawl.requests)
    assert len(fetched) == RECENT + STALE == 45
    assert set(fetched) == set(first_crawl.archive.recent + first_crawl.archive.stale)
    assert first_crawl.run["status"] == "ok" and first_crawl.run["articles_new"] == 45, first_crawl.run
    assert first_crawl.run["errors"] == [] and first_crawl.run["message"] is None


def test_a_backfill_reaches_further_but_stops_at_the_cap_and_says_so(archive_root, tmp_path_factory):
    """`--since` a year and more back takes in two yearly sitemaps and thousands of links; `--max-pages 30`
    ends discovery at 30 pages: the home page, the index, this year's sitemap and its 27 newest articles,
    never last year's sitemap. The note says what was left."""
    root, archive = archive_root
    since = (datetime.now(timezone.utc) - timedelta(days=400)).date().isoformat()
    crawl, requests, run = crawl_archive(tmp_path_factory.mktemp("backfill"), root, "--since", since,
                                         "--max-pages", "30")
    assert crawl.returncode == 0, crawl.stderr
    assert [r.url for r in requests if r.path.startswith("/sitemap")] == [
        f"http://{ARCHIVE}/sitemap-index.xml", archive.sitemaps[0]]
    assert set(article_requests(requests)) == set(archive.recent[:27])
    assert run["status"] == "ok" and run["articles_new"] == 27
    note = f"capped at 30 pages (crawl.max_pages): {URLS_PER_SITEMAP - 27} new links and 1 discovery page not fetched"
    assert run["message"].startswith(note), run["message"]
    assert f"archive: {note}" in crawl.stdout
    assert "capped at 30 pages (crawl.max_pages)" in crawl.stderr  # logged once, as a warning


@dataclass(frozen=True)
class YearlyCrawls:
    default: MeasuredCrawl
    default_requests: list[ServedRequest]
    default_run: dict
    frozen_run: dict
    backfill: MeasuredCrawl
    backfill_requests: list[ServedRequest]
    backfill_run: dict
    articles: list[dict]


YEARLY_SOURCES = (
    '[[sources]]\nname = "yearly"\nfeeds = ["http://yearly.news.test/feed.xml"]\n\n'
    '[[sources]]\nname = "frozen"\nsitemaps = ["http://frozen.news.test/sitemap.xml"]\nrobots_sitemaps = false\n'
)
BACKFILLED = {f"http://yearly.news.test/news/{n}" for n in ("25120101", "25113001", "25112601", "25112401")}


@pytest.fixture(scope="module")
def yearly(tmp_path_factory: pytest.TempPathFactory) -> Iterator[YearlyCrawls]:
    folder = tmp_path_factory.mktemp("yearly")
    with FixtureWeb(roots=[CASE]) as web:
        config = set_crawl_keys(hostile_config(folder, proxy=web.proxy_url, sources=YEARLY_SOURCES),
                                max_age=DEFAULT_WINDOW)
        default = crawl_measured(config)
        default_requests = web.requests
        default_run, frozen_run = last_run(folder, "yearly"), last_run(folder, "frozen")
        web.clear_log()
        backfill = kuroshio(config, "crawl", "--source", "yearly", "--since", "2025-11-25")
        yield YearlyCrawls(default, default_requests, default_run, frozen_run,
                           MeasuredCrawl(backfill.returncode, backfill.stdout, backfill.stderr, 0.0, 0, 0.0),
                           web.requests, last_run(folder, "yearly"), stored_articles(config))


def test_a_window_long_past_fetches_no_article_and_the_run_says_why(yearly):
    assert yearly.default.returncode == 0, yearly.default.stderr
    fetched = {r.path for r in served(yearly.default_requests, host="yearly.news.test")}
    # The newest yearly sitemap is read even though it too is old: a quiet site is told from a broken one.
    assert fetched == {"/robots.txt", "/feed.xml", "/sitemap-index.xml", "/sitemaps/2025.xml"}
    assert yearly.default_run["status"] == "ok" and yearly.default_run["errors"] == []
    assert yearly.default_run["message"].startswith("no link in the window: all 9 links found were dated before ")


def test_a_lastmod_every_entry_shares_does_not_hide_the_articles(yearly):
    assert yearly.frozen_run["status"] == "ok" and yearly.frozen_run["articles_new"] == 4, yearly.frozen_run


def test_a_backfill_fetches_the_window_it_names_and_skips_the_old_yearly_sitemaps(yearly):
    assert yearly.backfill.returncode == 0, yearly.backfill.stderr
    paths = {r.path for r in yearly.backfill_requests}
    assert "/sitemaps/2025.xml" in paths
    assert not {"/sitemaps/2024.xml", "/sitemaps/2023.xml"} & paths
    fetched = {r.url for r in yearly.backfill_requests if r.path.startswith("/news/")}
    assert fetched == BACKFILLED  # 25112401 merely stale; 25112501 published half an hour too early
    assert yearly.backfill_run == {"status": "ok", "message": None, "errors": [], "articles_new": 4}
    assert BACKFILLED <= {article["url"] for article in yearly.articles}


@dataclass(frozen=True)
class CappedCrawls:
    first: MeasuredCrawl
    first_requests: list[ServedRequest]
    first_run: dict
    runs_listing: str
    second: MeasuredCrawl
    second_requests: list[ServedRequest]
    second_run: dict


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CappedCrawls]:
    folder = tmp_path_factory.mktemp("capped")
    sources = ('[[sources]]\nname = "listing"\nlisting_pages = ["http://listing.news.test/"]\n'
               "article_url_pattern = '/news/\\d+$'\nrobots_sitemaps = false\n")
    with FixtureWeb(roots=[CASE]) as web:
        config = set_crawl_keys(hostile_config(folder, proxy=web.proxy_url, sources=sources), max_pages=5)
        first = crawl_measured(config)
        first_requests, first_run = web.requests, last_run(folder, "listing")
        listing = kuroshio_in_process(config, "runs", "--source", "listing")
        assert listing.returncode == 0, listing.stderr
        web.clear_log()
        second = kuroshio(config, "crawl", "--max-pages", "0")
        yield CappedCrawls(first, first_requests, first_run, listing.stdout,
                           MeasuredCrawl(second.returncode, second.stdout, second.stderr, 0.0, 0, 0.0),
                           web.requests, last_run(folder, "listing"))


CAP_NOTE = "capped at 5 pages (crawl.max_pages): 8 new links not fetched, left for the next crawl"


def test_undated_links_stop_at_the_cap_with_the_run_ok_and_noted(capped):
    assert capped.first.returncode == 0, capped.first.stderr
    paths = [r.path for r in capped.first_requests if r.path != "/robots.txt"]
    assert len(paths) == 5 and paths[0] == "/" and all(path.startswith("/news/") for path in paths[1:])
    assert capped.first_run == {"status": "ok", "message": CAP_NOTE, "errors": [], "articles_new": 4}
    assert f"listing: {CAP_NOTE}" in capped.first.stdout


def test_kuroshio_runs_shows_the_cap_note(capped):
    assert CAP_NOTE in capped.runs_listing


def test_the_cap_lifted_for_one_crawl_fetches_the_rest(capped):
    assert capped.second.returncode == 0, capped.second.stderr
    fetched = [r.path for r in capped.second_requests if r.path.startswith("/news/")]
    first = {r.path for r in capped.first_requests if r.path.startswith("/news/")}
    assert len(fetched) == 8 and not first & set(fetched)
    assert capped.second_run == {"status": "ok", "message": None, "errors": [], "articles_new": 8}
