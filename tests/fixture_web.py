"""Shared test helpers: the fixture web's files and expectations, a config pointed at it, and the
installed `kuroshio` command run as a subprocess."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]
WEB = REPO / "fixtures" / "web"
EXPECTED = REPO / "fixtures" / "expected"
SEEDS = REPO / "fixtures" / "seeds"  # the three source documents, copied from shared/seeds
SEED_CASES = ("focus-taiwan-kung", "kyodo-ko", "taiwan-news-lai")
DEMO_CONFIG = REPO / "fixtures" / "demo.toml"
KUROSHIO = Path(sys.executable).parent / "kuroshio"


def page_bytes(url: str) -> bytes:
    """The raw bytes the fixture server answers for `url` (same lookup rules as fixtures.server)."""
    parts = urlsplit(url)
    base = WEB / (parts.hostname or "") / parts.path.strip("/")
    for candidate in (base, base.with_name(base.name + ".html"), base / "index.html"):
        if candidate.is_file():
            return candidate.read_bytes()
    raise FileNotFoundError(url)


def expected(case: str) -> dict:
    """A seed case's expected fields, with its body text loaded as `body`."""
    fields = json.loads((EXPECTED / f"{case}.json").read_text(encoding="utf-8"))
    fields["body"] = (EXPECTED / fields["body_file"]).read_text(encoding="utf-8")
    return fields


def site_inventory() -> dict[str, dict]:
    """Every article page of the fixture web: source, kind and whether it is on topic."""
    return json.loads((EXPECTED / "site.json").read_text(encoding="utf-8"))


def normalise_space(text: str) -> str:
    """Text with every run of white space folded to one space."""
    return " ".join(text.split())


def write_config(path: Path, *, database_url: str, proxy: str, sources: str | None = None) -> Path:
    """The demo config (or `sources` instead of its sources) pointed at a database and the fixture proxy."""
    text = DEMO_CONFIG.read_text(encoding="utf-8")
    if sources is not None:
        text = text[: text.index("[[sources]]")] + sources
    text = text.replace("[crawl]\n", f'[crawl]\nproxy = "{proxy}"\n', 1)
    path.write_text(f'[storage]\nurl = "{database_url}"\n\n{text}', encoding="utf-8")
    return path


def kuroshio(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the installed `kuroshio` command with `config`."""
    return subprocess.run(
        [str(KUROSHIO), "--config", str(config), *args], capture_output=True, text=True, timeout=180, check=False
    )


def stored_articles(config: Path) -> list[dict]:
    """Every stored article, as `kuroshio articles list --all --format jsonl` prints it."""
    listing = kuroshio(config, "articles", "list", "--all", "--limit", "1000", "--format", "jsonl")
    assert listing.returncode == 0, listing.stderr
    return [json.loads(line) for line in listing.stdout.splitlines()]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
