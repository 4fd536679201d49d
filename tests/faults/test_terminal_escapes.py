"""Hostile strings on the terminal (issue #16, item 7): a terminal escape sequence in a server's header,
in a link, or in a source's name never reaches the terminal through the crawl's summary and log,
`kuroshio runs`, `status`, `sources` or `articles list`; and a title a spreadsheet would run as a
formula is written to CSV as text.

The fixtures are `fixtures/hostile/terminal-escapes/` (see its README); every command is the real one.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fixture_web import kuroshio
from hostile_crawl import HOSTILE, MeasuredCrawl, crawl_measured, hostile_config, last_run
from network_crawl import served

from kuroshio.fixtures.server import FixtureWeb, ServedRequest
from kuroshio.scheduler.exits import EXIT_NEEDS_ATTENTION

pytestmark = pytest.mark.faults

CASE = HOSTILE / "terminal-escapes"
HOST = "escapes.news.test"
ESCAPE = "\x1b]0;pwned\x07\x1b[2J"  # sets the terminal's title, then clears its screen
HOSTILE_NAME = "esc\\u001b]0;pwned\\u0007\\u001b[2Japes"  # as TOML spells it
SOURCES = (f'[[sources]]\nname = "escapes"\nlisting_pages = ["http://{HOST}/news/"]\narticle_url_pattern = "/news/"\n\n'
           f'[[sources]]\nname = "{HOSTILE_NAME}"\nlisting_pages = ["http://{HOST}/nowhere/"]\n'
           'article_url_pattern = "/news/"\nrobots_sitemaps = false\n')
# Control characters a terminal acts on (C0 but tab and line feed, DEL, C1).
CONTROLS = [chr(code) for code in (*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0))]
FORMULA_TITLES = ('=HYPERLINK("http://evil.test/","Taiwan and Japan talks")', "@SUM(1+1) Taiwan and Japan talks")


@dataclass(frozen=True)
class EscapeCrawl:
    crawl: MeasuredCrawl
    requests: list[ServedRequest]
    run: dict
    outputs: dict[str, str]  # command → its stdout and stderr
    csv: str


@pytest.fixture(scope="module")
def escape_crawl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EscapeCrawl]:
    folder = tmp_path_factory.mktemp("terminal-escapes")
    with FixtureWeb(roots=[CASE]) as web:
        config = hostile_config(folder, proxy=web.proxy_url, sources=SOURCES)
        crawl = crawl_measured(config)
        outputs = {"crawl": crawl.stdout + crawl.stderr}
        for command in (["runs"], ["status"], ["sources"], ["articles", "list", "--all"]):
            result = kuroshio(config, *command)
            # The hostile source's last crawl failed: status says it needs attention.
            assert result.returncode == (EXIT_NEEDS_ATTENTION if command == ["status"] else 0), result.stderr
            outputs[" ".join(command)] = result.stdout + result.stderr
        listing = kuroshio(config, "articles", "list", "--all", "--format", "csv")
        assert listing.returncode == 0, listing.stderr
        yield EscapeCrawl(crawl, web.requests, last_run(folder, "escapes"), outputs, listing.stdout)


def test_the_hostile_page_and_link_were_read(escape_crawl):
    """The bad path was reached: the page came with the escape in its Content-Type, the link was read."""
    [typed] = served(escape_crawl.requests, url=f"http://{HOST}/news/typed")
    assert typed.status == 200
    reasons = [error["reason"] for error in escape_crawl.run["errors"]]
    assert any(reason.startswith("not an HTML page (image/png; name=") for reason in reasons), reasons
    assert any(reason.startswith("skipped: bad link: Port out of range") for reason in reasons), reasons
    assert "esc" in escape_crawl.outputs["status"]  # the hostile source's name is shown, cleaned


@pytest.mark.parametrize("command", ["crawl", "runs", "status", "sources", "articles list --all"])
def test_no_control_character_reaches_the_terminal(escape_crawl, command):
    output = escape_crawl.outputs[command]
    assert [control for control in CONTROLS if control in output] == [], output
    assert "pwned" not in output or "]0;pwned" in output  # the text may stay, as harmless visible text


def test_the_run_record_keeps_each_reason_on_one_line(escape_crawl):
    for error in escape_crawl.run["errors"]:
        assert not any(control in error["url"] + error["reason"] for control in CONTROLS), error


def test_formula_titles_are_written_to_csv_as_text(escape_crawl):
    rows = list(csv.DictReader(io.StringIO(escape_crawl.csv)))
    titles = sorted(row["title"] for row in rows)
    assert titles == sorted(f"'{title}" for title in FORMULA_TITLES)
    assert all(not row[column].startswith(("=", "+", "-", "@", "\t", "\r")) for row in rows for column in row)
