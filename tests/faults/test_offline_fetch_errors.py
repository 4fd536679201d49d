"""A failed fetch is one log line at the default log level (issue #13, item 1): a newcomer's offline
crawl printed a Scrapy traceback for every transient error (312 stderr lines for the built-in sources).

The real `kuroshio crawl` runs, robots.txt obeyed and one retry allowed as a user's config would have
them, against servers on 127.0.0.1 that fail each in their own way: a port nothing listens on
(refused), a `.invalid` name (no DNS answer: the hosts table is empty, so no query leaves the machine),
a server that accepts and never answers (timeout), a plain-HTTP server asked for HTTPS (TLS error), and
a feed whose article drops its connection. Each failed URL is exactly one stderr line naming the source,
the URL and the reason, the same the run records; nothing else reaches stderr.
"""

from __future__ import annotations

import http.server
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from fixture_web import KUROSHIO, free_port
from hostile_crawl import last_run

pytestmark = pytest.mark.faults

LOG_PREFIX = "WARNING kuroshio.crawler.spiders.source: "


@dataclass
class FailingWeb:
    """The servers, and what each saw (so a test can show the bad path was reached)."""

    closed_port: int
    silent_port: int
    http_port: int
    silent_connections: list[socket.socket] = field(default_factory=list)
    http_requests: list[str] = field(default_factory=list)  # request lines, and "(not HTTP)" for a TLS hello


def _feed(port: int) -> bytes:
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>http://127.0.0.1:{port}/</link>'
            f"<description>d</description><item><title>Drops</title><link>http://127.0.0.1:{port}/news/1</link>"
            "</item></channel></rss>").encode()


@pytest.fixture(scope="module")
def failing_web() -> Iterator[FailingWeb]:
    silent = socket.create_server(("127.0.0.1", 0))
    web = FailingWeb(closed_port=free_port(), silent_port=silent.getsockname()[1], http_port=0)

    def accept_silently() -> None:
        while True:
            try:
                web.silent_connections.append(silent.accept()[0])
            except OSError:  # closed: the tests are over
                return

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            web.http_requests.append(self.requestline)
            if self.path == "/feed.xml":
                body = _feed(web.http_port)
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            elif self.path.startswith("/news/"):
                self.close_connection = True  # dropped before any answer
            else:
                self.send_error(404)

        def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
            if code == 400:  # a TLS ClientHello is no request line
                web.http_requests.append("(not HTTP)")
            super().send_error(code, message, explain)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (http.server's name)
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    web.http_port = server.server_address[1]
    threads = [threading.Thread(target=accept_silently, daemon=True),
               threading.Thread(target=server.serve_forever, daemon=True)]
    for thread in threads:
        thread.start()
    yield web
    server.shutdown()
    server.server_close()
    silent.close()
    for connection in web.silent_connections:
        connection.close()


SOURCES = {
    "refused": "http://127.0.0.1:{closed_port}/feed.xml",
    "nowhere": "http://news.kuroshio.invalid/feed.xml",
    "silent": "http://127.0.0.1:{silent_port}/feed.xml",
    "tls": "https://127.0.0.1:{http_port}/feed.xml",
    "drops": "http://127.0.0.1:{http_port}/feed.xml",
}
REASONS = {
    "refused": "Connection was refused",
    "nowhere": "DNS lookup failed",
    "silent": "took longer than 1.0 seconds",
    "tls": "SSL routines",
    "drops": "Connection",
}


@dataclass(frozen=True)
class Crawl:
    result: subprocess.CompletedProcess[str]
    runs: dict[str, dict]
    web: FailingWeb


@pytest.fixture(scope="module")
def crawl(tmp_path_factory: pytest.TempPathFactory, failing_web: FailingWeb) -> Crawl:
    folder = tmp_path_factory.mktemp("offline-fetch-errors")
    ports = {"closed_port": failing_web.closed_port, "silent_port": failing_web.silent_port,
             "http_port": failing_web.http_port}
    sources = "".join(f'[[sources]]\nname = "{name}"\nfeeds = ["{url.format(**ports)}"]\n\n'
                      for name, url in SOURCES.items())
    config = folder / "kuroshio.toml"
    config.write_text(
        f'[storage]\nurl = "sqlite:///{folder / "kuroshio.db"}"\n\n'
        "[crawl]\ndownload_delay = 0.0\nautothrottle = false\ntimeout = 1\nretry_times = 1\nretry_backoff = 0.1\n"
        "scrapy_settings = { KUROSHIO_HOSTS = {} }\n\n" + sources, encoding="utf-8")
    config.chmod(0o600)
    result = subprocess.run([str(KUROSHIO), "--config", str(config), "crawl"], capture_output=True, text=True,
                            timeout=180, check=False)
    return Crawl(result, {name: last_run(folder, name) for name in SOURCES}, failing_web)


def test_the_servers_really_failed(crawl: Crawl) -> None:
    """Each bad path was reached: a connection left unanswered, a TLS hello to plain HTTP, an article
    request dropped and retried once."""
    assert crawl.web.silent_connections
    assert "(not HTTP)" in crawl.web.http_requests
    assert crawl.web.http_requests.count("GET /news/1 HTTP/1.1") == 2, crawl.web.http_requests


def test_each_source_failed_with_its_reason_recorded(crawl: Crawl) -> None:
    assert crawl.result.returncode == 1, crawl.result.stderr  # every source failed
    for name, run in crawl.runs.items():
        assert run["status"] == "failed" and run["errors"], (name, run)
        assert all(REASONS[name] in error["reason"] for error in run["errors"]), (name, run["errors"])


def test_each_failed_url_is_one_stderr_line_and_nothing_else(crawl: Crawl) -> None:
    lines = crawl.result.stderr.splitlines()
    assert "Traceback" not in crawl.result.stderr
    expected = [f"{LOG_PREFIX}{name}: {error['url']}: {error['reason']}"
                for name, run in crawl.runs.items() for error in run["errors"]]
    assert sorted(lines) == sorted(expected), crawl.result.stderr
    assert len(lines) == len({line.split(": ", 2)[2].split(": ", 1)[0] for line in lines}), "a URL said twice"
