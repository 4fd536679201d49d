"""The fixture web: the proxy server's behaviour, and the integrity of the pages it serves.

Every request goes through `FixtureWeb` as an HTTP proxy, exactly as the crawler's will, so these
tests also prove the fixture files say what `fixtures/expected/` claims they say.
"""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from lxml import etree, html

from kuroshio.fixtures.server import DEFAULT_ROOT, SIDECAR_SUFFIX, FixtureWeb, ServedRequest

EXPECTED = Path(__file__).resolve().parents[1] / "fixtures" / "expected"
SITE = json.loads((EXPECTED / "site.json").read_text(encoding="utf-8"))
SEED_CASES = sorted(path.stem for path in EXPECTED.glob("*.json") if path.name != "site.json")

FT_SEED = "http://focustaiwan.test/business/202512020023"
FT_SEED_FILE = DEFAULT_ROOT / "focustaiwan.test" / "business" / "202512020023.html"
FT_FEED = "http://feeds.feedburner.test/rsscna/engnews"
OFF_TOPIC_WORDS = {
    "off-topic-taiwan": ("japan", "日本"),
    "off-topic-japan": ("taiwan", "taipei", "台灣", "臺灣"),
    "off-topic-neither": ("japan", "日本", "taiwan", "taipei", "台灣", "臺灣"),
}


@dataclass(frozen=True)
class Fetched:
    """One response as a client saw it."""

    status: int
    headers: Message
    body: bytes


@pytest.fixture(autouse=True)
def _no_proxy_bypass(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's no_proxy must not send .test requests to DNS instead of the fixture web."""
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def web() -> Iterator[FixtureWeb]:
    """The default fixture web, shared by the read-only tests of this module."""
    with FixtureWeb() as running:
        yield running


def fetch(web: FixtureWeb, url: str, *, method: str = "GET") -> Fetched:
    """Fetch `url` through the fixture web as a proxy, returning error statuses instead of raising."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": web.proxy_url}))
    request = urllib.request.Request(url, method=method)
    try:
        with opener.open(request, timeout=10) as response:
            return Fetched(response.status, response.headers, response.read())
    except urllib.error.HTTPError as error:
        with error:
            return Fetched(error.code, error.headers, error.read())


def raw_request(web: FixtureWeb, target: str, *, host: str | None = None) -> int:
    """Send a request line exactly as given (no client-side URL normalisation); return the status."""
    connection = http.client.HTTPConnection("127.0.0.1", web.port, timeout=10)
    try:
        connection.putrequest("GET", target, skip_host=host is not None)
        if host is not None:
            connection.putheader("Host", host)
        connection.endheaders()
        return connection.getresponse().status
    finally:
        connection.close()


# --- the server ------------------------------------------------------------------------------


def test_page_is_served_through_the_proxy_as_raw_bytes_with_html_content_type(web: FixtureWeb) -> None:
    fetched = fetch(web, FT_SEED)

    assert fetched.status == 200
    assert fetched.headers["Content-Type"] == "text/html; charset=utf-8"
    assert fetched.body == FT_SEED_FILE.read_bytes()
    assert fetched.headers["Content-Length"] == str(len(fetched.body))


@pytest.mark.parametrize(
    ("url", "content_type"),
    [
        ("http://focustaiwan.test/robots.txt", "text/plain; charset=utf-8"),
        ("http://focustaiwan.test/sitemap-news.xml", "application/xml"),
        ("http://www.taiwannews.test/en/atom.xml", "application/xml"),
    ],
)
def test_content_type_follows_the_file_extension(web: FixtureWeb, url: str, content_type: str) -> None:
    fetched = fetch(web, url)

    assert (fetched.status, fetched.headers["Content-Type"]) == (200, content_type)


def test_sidecar_gives_the_extensionless_feed_its_rss_content_type(web: FixtureWeb) -> None:
    fetched = fetch(web, FT_FEED)

    assert fetched.status == 200
    assert fetched.headers["Content-Type"] == "application/rss+xml; charset=UTF-8"
    assert fetched.body.startswith(b"<?xml")


def test_sidecar_file_itself_is_never_served(web: FixtureWeb) -> None:
    assert fetch(web, FT_FEED + SIDECAR_SUFFIX).status == 404


def test_query_string_is_ignored_when_looking_up_the_file(web: FixtureWeb) -> None:
    tracked = fetch(web, FT_SEED + "?utm_source=feedburner&utm_medium=rss&utm_campaign=engnews")

    assert tracked.status == 200
    assert tracked.body == FT_SEED_FILE.read_bytes()


@pytest.mark.parametrize(
    ("url", "file"),
    [
        ("http://focustaiwan.test/", "focustaiwan.test/index.html"),
        ("http://focustaiwan.test/business", "focustaiwan.test/business/index.html"),
        ("http://www.taiwannews.test/en/", "www.taiwannews.test/en/index.html"),
        ("http://www.taiwannews.test/en", "www.taiwannews.test/en/index.html"),
        ("http://english.kyodonews.test/news/asia", "english.kyodonews.test/news/asia.html"),
    ],
)
def test_paths_map_to_html_files_and_directory_index_pages(web: FixtureWeb, url: str, file: str) -> None:
    fetched = fetch(web, url)

    assert fetched.status == 200
    assert fetched.body == (DEFAULT_ROOT / file).read_bytes()


def test_missing_page_is_a_404_html_page(web: FixtureWeb) -> None:
    fetched = fetch(web, "http://focustaiwan.test/politics/202512010045")

    assert fetched.status == 404
    assert fetched.headers["Content-Type"] == "text/html; charset=utf-8"
    assert b"404" in fetched.body


def test_unknown_host_is_a_502_so_nothing_leaves_the_fixture_web(web: FixtureWeb) -> None:
    fetched = fetch(web, "http://www.example.test/")

    assert fetched.status == 502
    assert b"unknown host" in fetched.body


@pytest.mark.parametrize(
    "target",
    [
        "http://focustaiwan.test/../english.kyodonews.test/robots.txt",
        "http://focustaiwan.test/business/%2e%2e/%2e%2e/%2e%2e/server.py",
    ],
)
def test_path_traversal_is_refused(web: FixtureWeb, target: str) -> None:
    assert raw_request(web, target) == 400


def test_host_header_names_the_site_for_origin_form_requests(web: FixtureWeb) -> None:
    assert raw_request(web, "/robots.txt", host="focustaiwan.test:80") == 200
    assert raw_request(web, "/robots.txt", host="..") == 400


@pytest.mark.parametrize("keep_alive", [False, True])
def test_connections_are_kept_alive_only_when_asked(keep_alive: bool) -> None:
    with FixtureWeb(keep_alive=keep_alive) as web:
        connection = http.client.HTTPConnection("127.0.0.1", web.port, timeout=5)
        answers = []
        for _ in range(2):
            connection.request("GET", FT_SEED)
            response = connection.getresponse()
            answers.append((response.status, len(response.read()), response.will_close))
        connection.close()

    size = FT_SEED_FILE.stat().st_size
    assert answers == [(200, size, not keep_alive)] * 2


def test_head_request_sends_the_headers_without_a_body(web: FixtureWeb) -> None:
    fetched = fetch(web, FT_SEED, method="HEAD")

    assert fetched.status == 200
    assert fetched.headers["Content-Length"] == str(FT_SEED_FILE.stat().st_size)
    assert fetched.body == b""


def test_sidecar_overrides_status_and_adds_headers(tmp_path: Path) -> None:
    page = tmp_path / "focustaiwan.test" / "retired.html"
    page.parent.mkdir(parents=True)
    page.write_bytes(b"<html><body>Gone for good.</body></html>")
    page.with_name(page.name + SIDECAR_SUFFIX).write_text(
        json.dumps({"status": 410, "headers": {"content-type": "text/plain", "X-Fixture": "retired"}})
    )

    with FixtureWeb(roots=(tmp_path,)) as web:
        fetched = fetch(web, "http://focustaiwan.test/retired")

    assert fetched.status == 410
    assert fetched.headers.get_all("Content-Type") == ["text/plain"]
    assert fetched.headers["X-Fixture"] == "retired"
    assert fetched.body == b"<html><body>Gone for good.</body></html>"


def test_first_root_that_has_the_file_wins_and_others_fill_in(tmp_path: Path) -> None:
    replaced = tmp_path / "focustaiwan.test" / "business" / "202512020023.html"
    replaced.parent.mkdir(parents=True)
    replaced.write_bytes(b"<html><body>Corrected story.</body></html>")

    with FixtureWeb(roots=(tmp_path, DEFAULT_ROOT)) as web:
        overlaid = fetch(web, FT_SEED)
        from_default = fetch(web, "http://focustaiwan.test/business/202512010008")

    assert overlaid.body == b"<html><body>Corrected story.</body></html>"
    assert from_default.status == 200
    assert b"rural bus routes" in from_default.body


def test_request_log_records_each_answer_in_order(tmp_path: Path) -> None:
    UA = f"Python-urllib/{sys.version_info.major}.{sys.version_info.minor}"
    with FixtureWeb() as web:
        fetch(web, FT_SEED + "?utm_source=x")
        fetch(web, "http://focustaiwan.test/nowhere", method="HEAD")
        fetch(web, "http://www.example.test/")
        answered = web.requests
        urls = web.fetched_urls()
        web.clear_log()
        cleared = web.requests

    assert answered == [
        ServedRequest("GET", FT_SEED + "?utm_source=x", "focustaiwan.test", "/business/202512020023", "utm_source=x", 200, UA),
        ServedRequest("HEAD", "http://focustaiwan.test/nowhere", "focustaiwan.test", "/nowhere", "", 404, UA),
        ServedRequest("GET", "http://www.example.test/", "www.example.test", "/", "", 502, UA),
    ]
    assert urls == [served.url for served in answered]
    assert cleared == []


def test_command_line_server_prints_its_proxy_url_and_serves() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "kuroshio.fixtures.server", "--port", "0"],
        cwd=Path(__file__).resolve().parents[1],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        proxy_url = process.stdout.readline().strip()
        port = urlsplit(proxy_url).port
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", proxy_url)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "http://focustaiwan.test/robots.txt")
        assert connection.getresponse().status == 200
        connection.close()
    finally:
        process.terminate()
        process.wait(timeout=10)


# --- the fixture web's integrity -------------------------------------------------------------


def file_url(path: Path) -> str:
    """The URL a file under DEFAULT_ROOT is served at."""
    host, *parts = path.relative_to(DEFAULT_ROOT).parts
    relative = "/".join(parts)
    relative = relative.removesuffix(".html")
    if relative == "index" or relative.endswith("/index"):
        relative = relative.removesuffix("index")
    return f"http://{host}/{relative}"


def linked_urls(path: Path) -> Iterator[str]:
    """Every URL a crawler could follow from one file: <a href>, sitemap <loc>, feed links, Sitemap: lines."""
    raw = path.read_bytes()
    if path.name == "robots.txt":
        yield from re.findall(r"^Sitemap:\s*(\S+)", raw.decode("utf-8"), flags=re.MULTILINE)
    elif path.suffix == ".html":
        page = html.fromstring(raw)
        yield from (urljoin(file_url(path), href) for href in page.xpath("//a/@href"))
    elif raw.startswith(b"<?xml"):
        document = etree.fromstring(raw)
        yield from (element.text.strip() for element in document.iter("{*}loc", "{*}link") if element.text)
        yield from document.xpath("//*[local-name()='link']/@href")


def fixture_files() -> list[Path]:
    """Every servable file of the default fixture web."""
    return sorted(p for p in DEFAULT_ROOT.rglob("*") if p.is_file() and not p.name.endswith(SIDECAR_SUFFIX))


def test_every_linked_url_resolves_except_pages_marked_gone(web: FixtureWeb) -> None:
    hosts = {path.name for path in DEFAULT_ROOT.iterdir() if path.is_dir()}
    links = {url for path in fixture_files() for url in linked_urls(path) if url.startswith("http")}
    local = {url for url in links if urlsplit(url).hostname in hosts}

    statuses = {url: fetch(web, url).status for url in sorted(local)}

    gone = {url for url, entry in SITE.items() if entry["kind"] == "gone"}
    assert gone and gone <= local  # the bad pages are linked, so a crawl must meet them
    assert {url for url, status in statuses.items() if status != 200} == gone
    assert all(statuses[url] == 404 for url in gone)
    assert all(urlsplit(url).hostname.endswith(".test") for url in links - local)


def test_every_inventory_page_is_linked_and_served(web: FixtureWeb) -> None:
    links = {url for path in fixture_files() for url in linked_urls(path)}

    for url, entry in SITE.items():
        assert url in links, url
        assert fetch(web, url).status == (404 if entry["kind"] == "gone" else 200), url


def test_every_article_link_in_feeds_and_sitemaps_is_in_the_inventory() -> None:
    article = re.compile(r"/(\d{12}|articles/-/\d+|news/\d+)(\?|$)")
    feeds = [p for p in fixture_files() if p.suffix != ".html" and p.name != "robots.txt"]
    linked = {url for path in feeds for url in linked_urls(path) if article.search(url)}

    assert linked <= SITE.keys()


def page_of(web: FixtureWeb, url: str) -> html.HtmlElement:
    """The parsed page served at `url`."""
    fetched = fetch(web, url)
    assert fetched.status == 200, url
    return html.fromstring(fetched.body)


def article_text(page: html.HtmlElement) -> tuple[str, list[str]]:
    """(headline, body paragraphs) from the publisher templates' own markup, ignoring all furniture."""
    headline = page.xpath("normalize-space(//h1)")
    body = page.xpath(
        "//div[contains(concat(' ', @class, ' '), ' paragraph ') or @class='article-body'"
        " or @class='article-content']/p"
    )
    return headline, [p.text_content() for p in body]


@pytest.mark.parametrize("case", SEED_CASES)
def test_seed_page_serves_the_expected_body_verbatim_with_its_metadata(web: FixtureWeb, case: str) -> None:
    expected = json.loads((EXPECTED / f"{case}.json").read_text(encoding="utf-8"))
    body = (EXPECTED / expected["body_file"]).read_text(encoding="utf-8")
    page = page_of(web, expected["url"])
    headline, paragraphs = article_text(page)
    linked_data = json.loads(page.xpath("string(//script[@type='application/ld+json'])"))
    page_text = page.text_content()

    assert headline == expected["title"]
    assert page.xpath("string(//meta[@property='og:title']/@content)") == expected["title"]
    assert page.xpath("string(//link[@rel='canonical']/@href)") == expected["canonical_url"]
    assert page.xpath("string(//html/@lang)") == expected["language"]
    assert linked_data["datePublished"] == expected["published"]
    assert page.xpath("string(//meta[@property='article:published_time']/@content)") == expected["published"]
    assert all(paragraph in paragraphs for paragraph in body.split("\n\n"))
    for snippet in expected["without"]:
        assert snippet in page_text, snippet  # the furniture is there to be dropped...
        assert snippet not in body, snippet  # ...and is not part of the article


@pytest.mark.parametrize("url", sorted(url for url, entry in SITE.items() if entry["kind"] in OFF_TOPIC_WORDS))
def test_off_topic_page_keeps_the_other_topic_out_of_its_title_and_body(web: FixtureWeb, url: str) -> None:
    page = page_of(web, url)
    headline, paragraphs = article_text(page)
    title = page.xpath("string(//meta[@property='og:title']/@content)")
    article = " ".join([headline, title, *paragraphs]).lower()

    assert len(paragraphs) >= 4
    assert not [word for word in OFF_TOPIC_WORDS[SITE[url]["kind"]] if word in article]


@pytest.mark.parametrize("url", sorted(url for url, entry in SITE.items() if entry["kind"].startswith("duplicate-of:")))
def test_duplicate_url_serves_a_page_whose_canonical_is_the_original(web: FixtureWeb, url: str) -> None:
    original = SITE[url]["kind"].removeprefix("duplicate-of:")

    assert page_of(web, url).xpath("string(//link[@rel='canonical']/@href)") == original
    assert fetch(web, url).body == fetch(web, original).body


def test_no_article_page_has_a_title_but_no_body_paragraphs(web: FixtureWeb) -> None:
    (url,) = [url for url, entry in SITE.items() if entry["kind"] == "no-article"]
    headline, paragraphs = article_text(page_of(web, url))

    assert headline
    assert paragraphs == []


def test_sidecar_delay_holds_the_answer_back(tmp_path: Path) -> None:
    page = tmp_path / "slow.test" / "page.html"
    page.parent.mkdir()
    page.write_text("<p>slow</p>", encoding="utf-8")
    (tmp_path / "slow.test" / "page.html.headers.json").write_text('{"delay": 0.5}', encoding="utf-8")
    with FixtureWeb(roots=[tmp_path]) as web:
        started = time.monotonic()
        fetch(web, "http://slow.test/page")
        assert time.monotonic() - started >= 0.5
