"""The records a crawl hands the store: an extracted article, the topics it matched, a failed page.

The store defines them because it is what keeps them: the crawler builds them, the store never needs
to know a spider. Plain frozen dataclasses, so page parsing, topic matching and storage can each be
tested on their own.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class TopicMatch:
    """One topic an article matched, with how strongly and on which query terms."""

    topic: str
    score: float
    terms: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ExtractedArticle:
    """An article as extraction recovered it from one fetched page.

    `published_at` is an aware datetime in the offset the publisher gave (None when the page and its
    feed give no date: the fetch time is never a stand-in). `url` is the canonicalised URL that was
    fetched; `canonical_url` is the page's own canonical link (canonicalised), or `url` without one.
    `partial`: the page showed only part of the article (a paywall, an archive teaser): `text` is its lead.
    """

    url: str
    canonical_url: str
    source: str
    title: str
    text: str
    authors: tuple[str, ...] = ()
    published_at: datetime | None = None
    language: str | None = None
    content_sha256: str = field(default="")
    partial: bool = False

    def __post_init__(self) -> None:
        if not self.content_sha256:
            object.__setattr__(self, "content_sha256", text_sha256(self.text))


def text_sha256(text: str) -> str:
    """Fingerprint of an article body, insensitive to whitespace layout, for duplicate detection."""
    normalised = " ".join(text.split())
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class PageFailure:
    """An article page that could not be stored, and whether fetching it again soon is pointless.

    Permanent failures (gone: 404/410; no article text) are remembered so the next crawls do not
    fetch the page again; transient ones (5xx, timeouts) are retried by the next crawl.
    """

    url: str
    reason: str
    permanent: bool
