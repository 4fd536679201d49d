"""Helpers for the network-fault tests: `[crawl]` keys laid over a hostile config, and the server log
read per host."""

from __future__ import annotations

import re
from pathlib import Path

from kuroshio.fixtures.server import ServedRequest


def set_crawl_keys(config: Path, **keys: float | int) -> Path:
    """Rewrite `config` with each `[crawl]` key of `keys` set (replacing the demo's value, if any)."""
    text = config.read_text(encoding="utf-8")
    for key, value in keys.items():
        text = re.sub(rf"^{key} = .*\n", "", text, flags=re.MULTILINE)
        text = text.replace("[crawl]\n", f"[crawl]\n{key} = {value}\n", 1)
    config.write_text(text, encoding="utf-8")
    return config


def served(requests: list[ServedRequest], *, host: str | None = None, url: str | None = None) -> list[ServedRequest]:
    """The answered requests to `host` (or of `url`), in order."""
    return [r for r in requests if (host is None or r.host == host) and (url is None or r.url == url)]


def gaps(requests: list[ServedRequest]) -> list[float]:
    """Seconds between consecutive answers."""
    return [later.at - earlier.at for earlier, later in zip(requests, requests[1:])]
