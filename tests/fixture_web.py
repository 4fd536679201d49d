"""Shared helpers for tests that read the fixture web's files and expectations directly."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]
WEB = REPO / "fixtures" / "web"
EXPECTED = REPO / "fixtures" / "expected"
SEEDS = REPO.parent / "shared" / "seeds"
SEED_CASES = ("focus-taiwan-kung", "kyodo-ko", "taiwan-news-lai")


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
