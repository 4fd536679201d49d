"""The item a spider yields to the store pipeline: an extracted article with what was learnt on the way.

A plain frozen dataclass, so the spider and the pipeline can be tested without each other.
"""

from __future__ import annotations

from dataclasses import dataclass

from kuroshio.storage.records import ExtractedArticle, TopicMatch


@dataclass(frozen=True, slots=True)
class CrawledArticle:
    """An extracted article, the topics it matched and every URL that led to it (redirects)."""

    article: ExtractedArticle
    matches: tuple[TopicMatch, ...] = ()
    seen_urls: tuple[str, ...] = ()
