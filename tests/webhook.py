"""A real HTTP endpoint on 127.0.0.1 recording the POSTs it gets: the target of Apprise's `json://` URLs in
the alert tests. It answers 200, or `fail_with` (a status) while that is set; a failing answer echoes
what the request carried (its path and Authorization header), as a careless server might, so a test can
prove the echo never reaches a log or an error unmasked. The `webhook` fixture (registered for every test
by tests/conftest.py) starts one for a test and stops it after."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class Post:
    """One request the endpoint got."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    answered: int


@dataclass
class Webhook:
    """The endpoint; `url(path)` is its Apprise URL (json://127.0.0.1:PORT/path)."""

    fail_with: int | None = None
    posts: list[Post] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Webhook:
        webhook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                status = webhook.fail_with or 200
                with webhook._lock:
                    webhook.posts.append(Post(self.path, dict(self.headers), body, status))
                echo = f"refused {self.path} {self.headers.get('Authorization', '')}".encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(echo)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(echo)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.server_address[1]

    def url(self, path: str = "/hook", *, credentials: str = "") -> str:
        return f"json://{credentials}{'@' if credentials else ''}127.0.0.1:{self.port}{path}"

    def accepted(self) -> list[Post]:
        """The POSTs answered 200."""
        with self._lock:
            return [post for post in self.posts if post.answered == 200]


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    """A started endpoint, stopped when the test ends."""
    endpoint = Webhook().start()
    yield endpoint
    endpoint.stop()
