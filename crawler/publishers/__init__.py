"""Per-publisher knowledge, kept as data: what trafilatura leaves behind on each site and how to drop it.

A publisher module declares one `Publisher`; the extraction wrapper applies its rules generically.
A source without a publisher gets generic extraction, which must stand on its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

AUTHOR_SEPARATORS = re.compile(r"\s*(?:,|;|\band\b|&)\s*")


@dataclass(frozen=True)
class Publisher:
    """Extraction rules for one publisher's pages.

    - `prune_xpaths`: page furniture removed before extraction (banners, players, captions).
    - `drop_lines`: regexes of whole text lines that are furniture trafilatura still keeps.
    - `byline`: regex of a text line that names the authors (group `authors`); the line is removed
      from the text and its names become the article's authors.
    """

    name: str
    prune_xpaths: tuple[str, ...] = ()
    drop_lines: tuple[str, ...] = ()
    byline: str | None = None

    def is_furniture(self, line: str) -> bool:
        """Whether a text line is one of this publisher's furniture lines."""
        return any(re.fullmatch(pattern, line.strip()) for pattern in self.drop_lines)

    def byline_authors(self, line: str) -> tuple[str, ...] | None:
        """The authors a byline line names, or None when the line is not a byline."""
        if self.byline is None:
            return None
        match = re.fullmatch(self.byline, line.strip())
        if match is None:
            return None
        return tuple(name for name in AUTHOR_SEPARATORS.split(match.group("authors")) if name)


def by_class(*names: str) -> tuple[str, ...]:
    """XPaths selecting elements that carry any of the CSS class `names`."""
    return tuple(f"//*[contains(concat(' ', normalize-space(@class), ' '), ' {name} ')]" for name in names)


def _registry() -> dict[str, Publisher]:
    from kuroshio.crawler.publishers import focus_taiwan, kyodo, taiwan_news

    return {module.PUBLISHER.name: module.PUBLISHER for module in (focus_taiwan, kyodo, taiwan_news)}


PUBLISHERS: dict[str, Publisher] = _registry()
