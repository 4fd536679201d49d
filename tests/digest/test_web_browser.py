"""`kuroshio serve` as a real process on 127.0.0.1, read by a real browser: the system's headless Chromium
(/usr/bin/chromium, which .ci/run installs with fonts-noto-cjk) driven by Playwright.

The store is filled the way a user's is: `kuroshio crawl` of the fixture web, with the legacy-encodings
case beside it (Big5, GBK, Shift_JIS and EUC-JP articles: CJK text to show) and the hostile-content case
(a title and text full of script, handlers and a `javascript:` link), then `kuroshio digest --send` to a
real SMTP server, so the digests page has something to show. Each page must render with no console
error, CJK text must be on screen, the search form must find an article, and nothing may run from a
hostile page. A screenshot of each page is written to docs/web-*.png when KUROSHIO_UPDATE_SCREENSHOTS=1
(and to the test's temporary folder otherwise, so the same code path runs either way).
"""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from digest_support import SmtpServer
from fixture_web import DEMO_CONFIG, KUROSHIO, REPO, kuroshio, write_config

from kuroshio.fixtures.server import DEFAULT_ROOT, FixtureWeb

CHROMIUM = Path("/usr/bin/chromium")
DOCS = REPO / "docs"
UPDATE_SCREENSHOTS = os.environ.get("KUROSHIO_UPDATE_SCREENSHOTS") == "1"
HOSTILE = REPO / "fixtures" / "hostile"
LEGACY_SOURCE = '[[sources]]\nname = "legacy"\nsitemaps = ["http://legacy.news.test/sitemap.xml"]\nrobots_sitemaps = false\n\n'
EVIL_SOURCE = '[[sources]]\nname = "evil"\nfeeds = ["http://evil.news.test/feed.xml"]\nrobots_sitemaps = false\n\n'
CJK_TITLE = "台湾の半導体大手、熊本で第２工場の建設を開始"  # fixtures/hostile/legacy-encodings, served as Shift_JIS
STARTUP_SECONDS = 30
VIEWPORT = {"width": 1200, "height": 900}

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="no /usr/bin/chromium: the web view is not checked in a browser (apt-get install chromium fonts-noto-cjk)")


@dataclass(frozen=True)
class Served:
    """A running `kuroshio serve` and the config it reads."""

    config: Path
    base_url: str
    process: subprocess.Popen[str]


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A SQLite store filled by a real crawl and a digest really sent."""
    folder = tmp_path_factory.mktemp("web")
    demo_sources = DEMO_CONFIG.read_text(encoding="utf-8").split("[[sources]]", 1)[1]
    smtp = SmtpServer().start()
    try:
        with FixtureWeb(roots=(DEFAULT_ROOT, HOSTILE / "legacy-encodings", HOSTILE / "hostile-content")) as web:
            path = write_config(folder / "kuroshio.toml", database_url=f"sqlite:///{folder / 'kuroshio.db'}",
                                proxy=web.proxy_url,
                                sources="[[sources]]" + demo_sources + "\n" + LEGACY_SOURCE + EVIL_SOURCE)
            with path.open("a", encoding="utf-8") as appended:
                appended.write(f'\n[smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\nsender = "Kuroshio <k@example.org>"\n\n'
                               '[[digests]]\nname = "morning"\nto = ["analyst@example.org"]\ntimezone = "Asia/Taipei"\n')
            crawl = kuroshio(path, "crawl")
            assert crawl.returncode == 0, crawl.stderr
        sent = kuroshio(path, "digest", "--send")
        assert sent.returncode == 0, sent.stderr
        assert len(smtp.messages) == 1
    finally:
        smtp.stop()
    yield path


@pytest.fixture(scope="module")
def served(config: Path) -> Iterator[Served]:
    """`kuroshio serve --port 0` running on the store, until the module's tests are done."""
    process = subprocess.Popen([str(KUROSHIO), "--config", str(config), "serve", "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = _first_line(process, deadline=time.monotonic() + STARTUP_SECONDS)
        found = re.search(r" on (http://127\.0\.0\.1:\d+)/ ", line)
        assert found, line
        yield Served(config, found.group(1), process)
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    # uvicorn shuts down cleanly, then ends by the signal it was sent, as a process killed by it would.
    assert process.returncode == -signal.SIGTERM, stderr
    assert "Traceback" not in stderr, stderr


def _first_line(process: subprocess.Popen[str], *, deadline: float) -> str:
    """The first line `process` prints, waited for until `deadline`."""
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if selector.select(timeout=0.2):
                return process.stdout.readline()
            if process.poll() is not None:
                raise AssertionError(f"kuroshio serve ended ({process.returncode}): {process.stderr.read()}")
    raise AssertionError(f"kuroshio serve said nothing within {STARTUP_SECONDS} s")


def test_serve_listens_on_loopback_and_routes_only_reads(served: Served) -> None:
    with urllib.request.urlopen(served.base_url + "/sources", timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")
    request = urllib.request.Request(served.base_url + "/search?q=Taiwan", data=b"q=Taiwan", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 405


def test_serve_on_a_taken_port_is_one_line_and_exit_1(served: Served) -> None:
    port = served.base_url.rsplit(":", 1)[1]
    second = kuroshio(served.config, "serve", "--port", port)
    assert second.returncode == 1
    assert second.stderr == f"kuroshio: cannot listen on 127.0.0.1:{port}: Address already in use\n"


@pytest.fixture(scope="module")
def browser(served: Served) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield launched
        launched.close()


@dataclass
class Visit:
    """A browser page with every console error, uncaught exception, dialog and failed request recorded."""

    page: object
    problems: list[str]


@pytest.fixture
def visit(browser) -> Iterator[Visit]:
    context = browser.new_context(viewport=VIEWPORT, locale="en-GB")
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda message: message.type == "error" and problems.append(f"console: {message.text}"))
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    page.on("response", lambda response: response.status >= 400 and problems.append(f"{response.status} {response.url}"))
    page.on("requestfailed", lambda request: problems.append(f"failed: {request.url}"))
    yield Visit(page, problems)
    context.close()


def _screenshot(visit: Visit, name: str, tmp_path: Path) -> None:
    target = DOCS / f"web-{name}.png" if UPDATE_SCREENSHOTS else tmp_path / f"web-{name}.png"
    visit.page.screenshot(path=str(target))
    assert target.stat().st_size > 10_000  # a page was painted, not a blank


@needs_chromium
@pytest.mark.parametrize(("name", "path", "heading"), [
    ("topics", "/", "Topics"),
    ("topic", "/topics/taiwan-japan", "Topic taiwan-japan"),
    ("sources", "/sources", "Sources"),
    ("digests", "/digests", "Digests"),
])
def test_each_page_renders_without_a_console_error(served: Served, visit: Visit, tmp_path: Path, name: str,
                                                    path: str, heading: str) -> None:
    page = visit.page
    response = page.goto(served.base_url + path)
    assert response.status == 200
    assert page.locator("h1").inner_text() == heading
    assert page.evaluate("getComputedStyle(document.body).margin") == "0px"  # the stylesheet was applied
    _screenshot(visit, name, tmp_path)
    assert visit.problems == []


@needs_chromium
def test_cjk_text_shows_in_the_topic_listing(served: Served, visit: Visit) -> None:
    page = visit.page
    page.goto(served.base_url + "/topics/taiwan-japan?page=1")
    title = page.locator("article.card h3", has_text="熊本で第２工場")
    assert title.inner_text() == CJK_TITLE
    assert title.get_attribute("lang") == "ja"
    box = title.bounding_box()
    assert box is not None and box["width"] > 200 and box["height"] > 10  # laid out, not collapsed
    # Chromium says which installed fonts drew the title's glyphs: a CJK font drew every one (no tofu).
    fonts = _fonts_drawing(page, "article.card h3[lang=ja] bdi")
    assert fonts and all("CJK" in font["familyName"] for font in fonts), fonts
    assert visit.problems == []


def _fonts_drawing(page, selector: str) -> list[dict]:
    """The platform fonts Chromium drew the text directly inside the first element matching `selector` with
    (DevTools protocol: CSS.getPlatformFontsForNode), each with its family name and glyph count."""
    devtools = page.context.new_cdp_session(page)
    devtools.send("DOM.enable")
    devtools.send("CSS.enable")
    root = devtools.send("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
    node = devtools.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
    return devtools.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]


@needs_chromium
def test_the_search_form_finds_an_article_and_opens_it(served: Served, visit: Visit, tmp_path: Path) -> None:
    page = visit.page
    page.goto(served.base_url + "/")
    page.fill("#site-search", "熊本 AND 半導体")
    page.press("#site-search", "Enter")
    page.wait_for_url(re.compile(r"/search\?q="))
    result = page.locator("article.card h3 a", has_text="熊本で第２工場")
    assert result.count() == 1
    assert page.locator("article.card mark", has_text="熊本").count() >= 1
    _screenshot(visit, "search", tmp_path)
    result.click()
    page.wait_for_url(re.compile(r"/articles/\d+$"))
    assert page.locator("h1").inner_text() == CJK_TITLE
    assert page.locator(".text mark").count() >= 1
    assert page.locator(".urls li").count() >= 1
    _screenshot(visit, "article", tmp_path)
    assert visit.problems == []


@needs_chromium
def test_a_bad_query_shows_its_error_in_the_page(served: Served, visit: Visit) -> None:
    page = visit.page
    response = page.goto(served.base_url + "/search?q=%28Taiwan")
    assert response.status == 400
    assert page.locator("[role=alert]").inner_text().startswith("bad search query: unbalanced parenthesis")
    # The page's own 400, as the network and the console report it; nothing else.
    assert visit.problems == [f"400 {served.base_url}/search?q=%28Taiwan",
                              "console: Failed to load resource: the server responded with a status of 400 (Bad Request)"]


@needs_chromium
def test_a_hostile_article_runs_nothing(served: Served, visit: Visit) -> None:
    page = visit.page
    # The hostile-content case's two articles: the header-injection title and the 10 kB one.
    page.goto(served.base_url + "/search?q=Bcc%20OR%20nobody")
    links = page.locator("article.card h3 a")
    hrefs = [links.nth(index).get_attribute("href") for index in range(links.count())]
    assert len(hrefs) == 2
    for href in hrefs:
        page.goto(served.base_url + href)
        assert page.locator("script").count() == 0
        assert page.evaluate("document.title").endswith("· Kuroshio")
        assert page.locator("a[href^='javascript:' i]").count() == 0
    assert visit.problems == []


@needs_chromium
def test_pages_work_without_javascript(served: Served, browser) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(served.base_url + "/")
    page.fill("#site-search", "熊本")
    page.press("#site-search", "Enter")
    page.wait_for_url(re.compile(r"/search\?q="))
    assert page.locator("article.card", has_text="熊本").count() >= 1
    context.close()
