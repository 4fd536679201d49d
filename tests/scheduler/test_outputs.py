"""Complete outputs (issue #13, item 2): an export is never cut, a cut listing says so on stderr, CSV
carries every field that fits a cell, a name nothing knows is exit 2, tables line up by display width.

Each test runs the real `kuroshio` click command (in this process) on a store filled by the store's
own functions, on SQLite and, when configured, PostgreSQL.
"""

from __future__ import annotations

import csv
import io
import json
from importlib.metadata import version

import pytest
from fixture_web import kuroshio_in_process
from seeded_store import SOURCES, TOPIC, article, store, store_config, store_session
from sqlalchemy import event
from sqlalchemy.engine import Engine

from kuroshio.scheduler.cli import CSV_COLUMNS
from kuroshio.scheduler.render import display_width

ARTICLES = 60  # more than the table's default of 50


@pytest.fixture()
def archive(tmp_path, database_url):
    """A config on a store of `ARTICLES` relevant articles of kyodo and one unmatched one."""
    with store_session(database_url) as session:
        store(session, [article(n) for n in range(ARTICLES)] + [article(999, matched=False, title="Weather")])
    return store_config(tmp_path, database_url)


def jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_the_readme_export_lists_every_article_with_nothing_on_stderr(archive):
    exported = kuroshio_in_process(archive, "articles", "list", "--all", "--format", "jsonl")
    assert exported.returncode == 0, exported.stderr
    assert len(jsonl(exported.stdout)) == ARTICLES + 1
    assert exported.stderr == ""
    as_csv = kuroshio_in_process(archive, "articles", "list", "--format", "csv")
    assert len(list(csv.reader(io.StringIO(as_csv.stdout)))) == 1 + ARTICLES and as_csv.stderr == ""


def test_the_table_shows_50_and_says_on_stderr_how_many_it_left_out(archive):
    table = kuroshio_in_process(archive, "articles", "list")
    assert table.returncode == 0, table.stderr
    assert len(table.stdout.splitlines()) == 2 + 50
    assert table.stderr == f"kuroshio: showing 50 of {ARTICLES} articles; --limit all for every one\n"
    every = kuroshio_in_process(archive, "articles", "list", "--limit", "all")
    assert len(every.stdout.splitlines()) == 2 + ARTICLES and every.stderr == ""


def test_an_explicit_limit_cuts_an_export_and_says_so(archive):
    cut = kuroshio_in_process(archive, "articles", "list", "--all", "--limit", "5", "--format", "jsonl")
    assert [record["id"] for record in jsonl(cut.stdout)] == [ARTICLES + 1, *range(ARTICLES, ARTICLES - 4, -1)]
    assert cut.stderr == f"kuroshio: showing 5 of {ARTICLES + 1} articles; --limit all for every one\n"
    exact = kuroshio_in_process(archive, "articles", "list", "--limit", str(ARTICLES), "--format", "jsonl")
    assert len(jsonl(exact.stdout)) == ARTICLES and exact.stderr == ""


@pytest.mark.parametrize("limit", ["0", "-3", "some", "2.5"])
def test_a_limit_that_is_neither_a_count_nor_all_is_exit_2(archive, limit):
    result = kuroshio_in_process(archive, "articles", "list", "--limit", limit)
    assert result.returncode == 2
    assert f"expected a number of at least 1, or 'all'; got '{limit}'" in result.stderr


def test_search_says_when_more_articles_were_found_than_shown(archive):
    cut = kuroshio_in_process(archive, "articles", "search", "Taiwan", "--limit", "3", "--format", "jsonl")
    assert len(jsonl(cut.stdout)) == 3
    assert cut.stderr == "kuroshio: showing 3 articles found (more exist); --limit all for every one\n"
    every = kuroshio_in_process(archive, "articles", "search", "Taiwan", "--limit", "all", "--format", "jsonl")
    assert len(jsonl(every.stdout)) == ARTICLES and every.stderr == ""


def test_csv_carries_every_field_of_the_jsonl_but_the_text(tmp_path, database_url):
    with store_session(database_url) as session:
        store(session, [article(1, title="=HYPERLINK(\"http://x\")", authors=("Ko Lin", "Mei Chen"))])
    config = store_config(tmp_path, database_url)
    [record] = jsonl(kuroshio_in_process(config, "articles", "list", "--format", "jsonl").stdout)
    [header, row] = list(csv.reader(io.StringIO(kuroshio_in_process(config, "articles", "list", "--format",
                                                                    "csv").stdout)))
    assert header[:6] == ["id", "published", "source", "title", "url", "topics"]  # as before, first
    assert set(header) == set(record) - {"text"} | {"topic_scores", "topic_terms"}
    cells = dict(zip(header, row))
    assert cells == {
        "id": str(record["id"]), "published": record["published"], "source": "kyodo",
        "title": "'=HYPERLINK(\"http://x\")", "url": record["url"], "topics": TOPIC,
        "canonical_url": record["canonical_url"], "authors": "Ko Lin;Mei Chen", "language": "en",
        "partial": "false", "first_seen_at": record["first_seen_at"], "topic_scores": f"{TOPIC}=2.5",
        "topic_terms": f"{TOPIC}=Taiwan, Japan",
    }


def test_tables_line_up_chinese_and_japanese_titles_and_mark_a_cut_title(tmp_path, database_url):
    titles = ["台湾と日本の半導体協力", "Taiwan and Japan", "賴清德總統接受日本電視台專訪，談台日關係與區域和平" * 3]
    with store_session(database_url) as session:
        store(session, [article(n, title=title) for n, title in enumerate(titles)])
    table = kuroshio_in_process(store_config(tmp_path, database_url), "articles", "list")
    header, dashes, *rows = table.stdout.splitlines()
    topics_at = display_width(header[:header.index("topics")])
    for row in rows:
        assert display_width(row[:row.index(TOPIC)]) == topics_at, table.stdout
    [long_row] = [row for row in rows if "賴清德" in row]
    title_cell = long_row[long_row.index("賴"):long_row.index("…") + 1]
    assert title_cell.endswith("…") and display_width(title_cell) <= 70
    assert title_cell[:-1] in titles[2]


def test_an_unknown_source_or_topic_is_exit_2_naming_the_known_ones(archive):
    known_sources = ", ".join(SOURCES)
    cases = {
        ("articles", "list", "--source", "nosuch"): f"unknown source 'nosuch'; known: {known_sources}",
        ("articles", "list", "--topic", "nosuch"): f"unknown topic 'nosuch'; known: {TOPIC}",
        ("runs", "--source", "nosuch"): f"unknown source 'nosuch'; known: {known_sources}",
    }
    for args, message in cases.items():
        result = kuroshio_in_process(archive, *args)
        assert (result.returncode, result.stdout, result.stderr) == (2, "", f"kuroshio: {message}\n"), args


def test_a_source_known_only_to_the_store_still_lists(tmp_path, database_url):
    with store_session(database_url) as session:
        store(session, [article(1, source="retired")])
    listing = kuroshio_in_process(store_config(tmp_path, database_url), "articles", "list", "--source", "retired",
                                  "--format", "jsonl")
    assert listing.returncode == 0, listing.stderr
    assert [record["source"] for record in jsonl(listing.stdout)] == ["retired"]


def test_version_names_the_installed_package():
    result = kuroshio_in_process(None, "--version")
    assert (result.returncode, result.stdout) == (0, f"kuroshio {version('kuroshio')}\n")


def test_sources_as_json(tmp_path, database_url):
    result = kuroshio_in_process(store_config(tmp_path, database_url), "sources", "--format", "json")
    assert result.returncode == 0, result.stderr
    sources = json.loads(result.stdout)
    assert [source["name"] for source in sources] == list(SOURCES)
    assert sources[1] == {"name": "kyodo", "domains": ["english.kyodonews.test"], "last_run": None}


@pytest.mark.parametrize("output_format", ["json", "jsonl", "csv"])
def test_an_export_written_as_read_is_the_export_laid_out_whole(archive, database_url, output_format):
    from kuroshio.scheduler.cli import _format_records
    from kuroshio.storage.articles import article_record, list_articles

    exported = kuroshio_in_process(archive, "articles", "list", "--all", "--format", output_format)
    assert exported.returncode == 0, exported.stderr
    with store_session(database_url) as session:
        whole = _format_records([article_record(a) for a in list_articles(session, include_unmatched=True)],
                                output_format)
    assert exported.stdout == whole


@pytest.mark.parametrize(("output_format", "empty"), [("json", "[]\n"), ("jsonl", ""), ("csv", None)])
def test_an_export_of_nothing_is_an_empty_document(tmp_path, database_url, output_format, empty):
    with store_session(database_url) as session:
        store(session, [])
    exported = kuroshio_in_process(store_config(tmp_path, database_url), "articles", "list", "--format", output_format)
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout == (empty if empty is not None else ",".join(CSV_COLUMNS) + "\r\n")
    assert json.loads(exported.stdout) == [] if output_format == "json" else True


def test_an_export_reads_the_archive_a_batch_at_a_time(archive, monkeypatch):
    # A year's archive exported whole must not sit in memory: the articles come EXPORT_BATCH at a time,
    # each batch's topic matches in one query.
    import kuroshio.storage.articles as articles

    batch = 8
    monkeypatch.setattr(articles, "EXPORT_BATCH", batch)
    statements: list[str] = []

    def seen(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(Engine, "before_cursor_execute", seen)
    try:
        exported = kuroshio_in_process(archive, "articles", "list", "--all", "--format", "jsonl")
    finally:
        event.remove(Engine, "before_cursor_execute", seen)
    assert exported.returncode == 0 and len(jsonl(exported.stdout)) == ARTICLES + 1
    topic_queries = [s for s in statements if "FROM topic_matches" in s and "IN (" in s]
    assert len(topic_queries) == -(-(ARTICLES + 1) // batch)
