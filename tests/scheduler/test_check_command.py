"""`kuroshio check` validates the config and reports what each source's crawl would find now, driving
the real command against the fixture web on 127.0.0.1: each discovery document with its answer and links,
known and new article links, what max_pages leaves, and the problems a crawl would record — fetching no
article and writing nothing to the store. An unreachable source, or one whose links are no article links,
fails the check (exit 1); a bad config is exit 2."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fixture_web import REPO, WEB, kuroshio, write_config
from sqlalchemy import MetaData, create_engine, select

from kuroshio.fixtures.server import FixtureWeb

HOSTILE = REPO / "fixtures" / "hostile"
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
DISCOVERY_PATHS = {"/robots.txt", "/list/feed/rss4kyodonews-fzone", "/", "/sitemap.xml", "/rsscna/engnews",
                   "/sitemap-news.xml", "/sitemap_en.xml", "/category/Politics", "/category/World"}
HOSTILE_SOURCES = """[[sources]]
name = "polite"
feeds = ["http://polite.news.test/feed.xml"]

[[sources]]
name = "unreachable"
feeds = ["http://unreachable.news.test/feed.xml"]

[[sources]]
name = "gone"
feeds = ["http://gone.news.test/feed.xml"]

[[sources]]
name = "wrong-pattern"
feeds = ["http://english.kyodonews.test/list/feed/rss4kyodonews-fzone"]
article_url_pattern = "/no-such-section/"
robots_sitemaps = false
"""


@pytest.fixture(scope="module")
def web() -> Iterator[FixtureWeb]:
    with FixtureWeb(roots=[HOSTILE / "robots", WEB]) as served:
        yield served


def config_for(folder: Path, web: FixtureWeb, *, sources: str | None = None, max_pages: int | None = None) -> Path:
    path = write_config(folder / "kuroshio.toml", database_url=f"sqlite:///{folder / 'kuroshio.db'}",
                        proxy=web.proxy_url, sources=sources)
    if max_pages is not None:
        path.write_text(path.read_text(encoding="utf-8").replace("[crawl]\n", f"[crawl]\nmax_pages = {max_pages}\n", 1),
                        encoding="utf-8")
    return path


def store_contents(database: Path) -> dict[str, list[tuple]]:
    """Every row of every table of the SQLite store at `database`."""
    engine = create_engine(f"sqlite:///{database}")
    metadata = MetaData()
    metadata.reflect(engine)
    with engine.connect() as connection:
        contents = {name: sorted(map(tuple, connection.execute(select(table))), key=repr)
                    for name, table in metadata.tables.items()}
    engine.dispose()
    return contents


def test_check_reports_each_document_and_known_links_fetching_no_article_and_storing_nothing(
        tmp_path: Path, web: FixtureWeb) -> None:
    config = config_for(tmp_path, web)
    crawl = kuroshio(config, "crawl")
    assert crawl.returncode == 0, crawl.stderr
    before = store_contents(tmp_path / "kuroshio.db")
    assert before["articles"]
    requests_before = len(web.requests)
    result = kuroshio(config, "check")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"config: {config}: valid (3 sources, 1 topic, 0 digests)"
    assert lines[1].endswith(": readable (known links are told from new)")
    assert {"focus-taiwan: ok", "kyodo: ok", "taiwan-news: ok"} <= set(lines)
    assert "  feed http://english.kyodonews.test/list/feed/rss4kyodonews-fzone: HTTP 200, 3 links" in lines
    assert "  listing page http://english.kyodonews.test/: HTTP 200, 6 links" in lines
    assert "  robots.txt http://english.kyodonews.test/robots.txt: HTTP 200, 1 sitemap named" in lines
    assert any(line.startswith("  links: 12 found: 0 dated before the window, 0 not article links, 12 to articles "
                               "the store knows, 0 to new articles; 0 would be fetched") for line in lines)
    assert lines[-1] == "3 of 3 sources ok"
    # Discovery documents only, and the store exactly as it was.
    assert {request.path for request in web.requests[requests_before:]} <= DISCOVERY_PATHS
    assert store_contents(tmp_path / "kuroshio.db") == before


def test_check_before_any_crawl_counts_every_link_new_and_creates_no_store(tmp_path: Path, web: FixtureWeb) -> None:
    config = config_for(tmp_path, web, max_pages=4)
    result = kuroshio(config, "check", "--source", "kyodo", "--format", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert "not created yet" in report["store"]["state"]
    [kyodo] = report["sources"]
    assert kyodo["source"] == "kyodo" and kyodo["ok"] is True
    assert kyodo["known"] == 0
    # max_pages = 4: the feed, the listing page and the sitemap robots.txt names count once requested
    # (robots.txt does not), what is left of the cap goes to articles, and the rest waits.
    requested = [document for document in kyodo["documents"] if document["status"] is not None]
    counted = sum(1 for document in requested if document["kind"] != "robots.txt")
    assert kyodo["would_fetch"] == 4 - counted >= 1
    assert kyodo["left_by_cap"] == kyodo["new"] - kyodo["would_fetch"] > 0
    assert not (tmp_path / "kuroshio.db").exists()


def test_unreachable_sources_and_sources_without_article_links_fail_with_exit_1(tmp_path: Path,
                                                                                web: FixtureWeb) -> None:
    config = config_for(tmp_path, web, sources=HOSTILE_SOURCES)
    requests_before = len(web.requests)
    result = kuroshio(config, "check")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert not CONTROL.search(result.stdout.replace("\n", ""))
    lines = result.stdout.splitlines()
    assert "polite: ok" in lines
    # The feed's /private/ link is counted as a crawl would request it, and robots.txt forbids it.
    assert any(line.startswith("  links: 4 found") and line.endswith("robots.txt forbids 1 of them") for line in lines)
    [unreachable] = [line for line in lines if line.startswith("unreachable: ")]
    assert unreachable.startswith("unreachable: FAILED: unreachable: no discovery document answered "
                                  "(first: http://unreachable.news.test/feed.xml: ")
    assert ("gone: FAILED: unreachable: no discovery document answered (first: http://gone.news.test/feed.xml: "
            "deferred to a later run: http://gone.news.test/robots.txt answered HTTP 502)") in lines
    assert "wrong-pattern: FAILED: no link in the window matches article_url_pattern" in lines
    assert lines[-1] == "1 of 4 sources ok; failed: unreachable, gone, wrong-pattern"
    assert not any(request.path.startswith(("/news/", "/private/")) for request in web.requests[requests_before:])


def test_refusals_and_bad_links_are_reported_as_the_crawl_records_them(tmp_path: Path, web: FixtureWeb) -> None:
    with FixtureWeb(roots=[HOSTILE / "ssrf"]) as ssrf_web:
        config = config_for(tmp_path, ssrf_web, sources='[[sources]]\nname = "ssrf"\nfeeds = ["http://ssrf.news.test/feed.xml"]\n')
        text = config.read_text(encoding="utf-8").replace(
            "scrapy_settings = { KUROSHIO_HOSTS = {} }",
            'scrapy_settings = { KUROSHIO_HOSTS = { "internal.ssrf.news.test" = ["10.1.2.3"], '
            '"mixed.ssrf.news.test" = ["93.184.215.14", "192.168.1.20"], "ssrf.news.test" = ["93.184.215.14"] } }')
        config.write_text(text, encoding="utf-8")
        result = kuroshio(config, "check", "--format", "json")
        requests = ssrf_web.requests
    assert "Traceback" not in result.stderr
    [ssrf] = json.loads(result.stdout)["sources"]
    reasons = {problem["url"]: problem["reason"] for problem in ssrf["problems"]}
    assert reasons["http://169.254.169.254/latest/meta-data/iam/"].startswith("refused: sitemap off the source")
    assert ssrf["problems_count"] > 100
    assert {request.host for request in requests} == {"ssrf.news.test"}


def test_a_bad_config_is_the_checks_first_line_and_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "kuroshio.toml"
    config.write_text("[crawl\ntimeout = 5\n", encoding="utf-8")
    result = kuroshio(config, "check")
    assert result.returncode == 2
    assert result.stdout.startswith(f"config: error: {config}: not valid TOML: "), result.stdout
    assert len(result.stdout.splitlines()) == 1
    assert "Traceback" not in result.stderr
    missing = kuroshio(tmp_path / "nosuch.toml", "check", "--format", "json")
    assert missing.returncode == 2
    assert json.loads(missing.stdout) == {"config": {"ok": False,
                                                     "error": f"{tmp_path / 'nosuch.toml'}: config file not found"}}


def test_an_unknown_source_is_exit_2_with_the_known_names(tmp_path: Path, web: FixtureWeb) -> None:
    result = kuroshio(config_for(tmp_path, web), "check", "--source", "nosuch")
    assert result.returncode == 2
    assert "unknown source 'nosuch' (configured: focus-taiwan, kyodo, taiwan-news)" in result.stderr
