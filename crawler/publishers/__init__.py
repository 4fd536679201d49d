"""Per-publisher knowledge, kept as data: what trafilatura leaves behind on each site and how to drop it.

A publisher module declares one `Publisher`; the extraction wrapper applies its rules generically.
A source without a publisher gets generic extraction, which must stand on its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

AUTHOR_SEPARATORS = re.compile(r"\s*(?:,|;|\band\b|&)\s*")
# An element longer than this is never furniture by its words alone: banners and notices are short.
MAX_PRUNED_TEXT_CHARS = 600
# How many elements after the headline may hold the visible date stamp (a stamp is a short text).
DATE_STAMP_ELEMENTS = 60


@dataclass(frozen=True)
class Publisher:
    """Extraction rules for one publisher's pages.

    Furniture is told by what it says and where it sits, so that a redesign that renames every class
    keeps it out; class names serve only where the site's own markup is known to carry them.

    - `prune_xpaths`: page furniture removed before extraction (banners, players, captions).
    - `prune_texts`: regexes of an element's whole text (white space folded) that make it furniture,
      removed before extraction: the outermost element whose text matches, never the page frame, and
      only a short one (`MAX_PRUNED_TEXT_CHARS`), so a body paragraph cannot be taken for a banner.
    - `drop_lines`: regexes of whole text lines that are furniture trafilatura still keeps.
    - `byline`: regex of a text line that names the authors (group `authors`); the line is removed
      from the text and its names become the article's authors.
    - `author_xpaths`: elements whose text names the authors when no byline line does ("By A and B",
      a link to the journalist's page); a leading "By" and surrounding brackets are dropped.
    - `credits`: regexes of names that credit the agency or a role, never a person ("KYODO NEWS",
      "Staff Writer"); such names never become authors, whatever found them.
    - `timezone`: the newsroom's IANA zone: a structured date without a UTC offset, and the visible
      date stamp, are read in it (never guessed for a page of unknown origin).
    - `date_formats`: `strptime` formats of the visible date stamp near the headline, tried when the
      page has no structured date ("Mar. 31, 2024": a dot after a month's abbreviation is dropped).
    - `date_xpaths`: where that stamp may sit; by default the first `DATE_STAMP_ELEMENTS` elements
      after the `<h1>` (the stamp is found by what it says, not by a class name).
    """

    name: str
    prune_xpaths: tuple[str, ...] = ()
    prune_texts: tuple[str, ...] = ()
    drop_lines: tuple[str, ...] = ()
    byline: str | None = None
    author_xpaths: tuple[str, ...] = ()
    credits: tuple[str, ...] = ()
    timezone: str | None = None
    date_formats: tuple[str, ...] = ()
    date_xpaths: tuple[str, ...] = ()

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
        return self.persons(AUTHOR_SEPARATORS.split(match.group("authors")))

    def persons(self, names: Iterable[str]) -> tuple[str, ...]:
        """`names` without blanks, repeats and credits (the agency, a role), in order."""
        kept: list[str] = []
        for name in (" ".join(name.split()) for name in names):
            if name and name not in kept and not self.is_credit(name):
                kept.append(name)
        return tuple(kept)

    def is_credit(self, name: str) -> bool:
        """Whether `name` credits the agency or a role rather than naming a person."""
        return any(re.fullmatch(pattern, name, flags=re.IGNORECASE) for pattern in self.credits)

    def element_authors(self, text: str) -> tuple[str, ...]:
        """The authors an author element's text names: "By A and B", "(By A)", "A, Taiwan News, Staff Writer"."""
        text = re.sub(r"^\(?\s*By\b:?\s*|\)$", "", " ".join(text.split()), flags=re.IGNORECASE)
        return self.persons(AUTHOR_SEPARATORS.split(text))

    def is_pruned_text(self, text: str) -> bool:
        """Whether an element whose whole text (white space folded) is `text` is furniture by its words."""
        return len(text) <= MAX_PRUNED_TEXT_CHARS and any(re.fullmatch(pattern, text) for pattern in self.prune_texts)


def by_class(*names: str) -> tuple[str, ...]:
    """XPaths selecting elements that carry any of the CSS class `names`."""
    return tuple(f"//*[contains(concat(' ', normalize-space(@class), ' '), ' {name} ')]" for name in names)


def _registry() -> dict[str, Publisher]:
    from kuroshio.crawler.publishers import focus_taiwan, kyodo, taiwan_news

    return {module.PUBLISHER.name: module.PUBLISHER for module in (focus_taiwan, kyodo, taiwan_news)}


PUBLISHERS: dict[str, Publisher] = _registry()
