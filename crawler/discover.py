"""Discovery documents → article links: RSS/Atom feeds, sitemaps, robots.txt, listing pages.

Pure functions over response bytes (no I/O), so each format is tested on fixture files alone.
Feeds go to feedparser as bytes (given a string it may open it as a path or URL); XML is parsed with
entity resolution and network access off, so a hostile sitemap cannot read local files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime

import feedparser
import lxml.etree
import lxml.html
from protego import Protego

from crawler.urls import absolute_http_url


class DiscoveryError(ValueError):
    """A discovery document that yields nothing usable (malformed XML, not a feed)."""


@dataclass(frozen=True, slots=True)
class DiscoveredLink:
    """A candidate article link, with the date its discovery document gave it (if any)."""

    url: str
    published_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Sitemap:
    """A parsed sitemap: article links, or (for a sitemap index) further sitemaps."""

    links: tuple[DiscoveredLink, ...]
    sitemaps: tuple[str, ...]


def parse_feed(body: bytes, *, url: str) -> list[DiscoveredLink]:
    """Links of an RSS or Atom feed, with each entry's own date; entries that parse survive truncation."""
    parsed = feedparser.parse(body, response_headers={"content-location": url})
    if not parsed.entries:
        reason = parsed.get("bozo_exception") or "no entries"
        raise DiscoveryError(f"not a usable feed: {reason}")
    links = []
    for entry in parsed.entries:
        href = entry.get("link") or _entry_alternate(entry)
        absolute = absolute_http_url(href, base=url) if href else None
        if absolute:
            links.append(DiscoveredLink(absolute, parse_date(entry.get("published") or entry.get("updated"))))
    return links


def _entry_alternate(entry: feedparser.FeedParserDict) -> str | None:
    for link in entry.get("links", ()):
        if link.get("rel", "alternate") == "alternate" and link.get("href"):
            return link["href"]
    return None


def parse_date(value: str | None) -> datetime | None:
    """An aware datetime from an RFC 822 (RSS) or ISO 8601 (Atom, sitemaps) date; None if unsure.

    A date without a UTC offset is rejected rather than guessed: a wrong offset is worse than none.
    """
    if not value:
        return None
    value = value.strip()
    for parse in (_parse_iso, parsedate_to_datetime):
        try:
            parsed = parse(value)
        except (TypeError, ValueError, IndexError):
            continue
        if parsed is not None and parsed.tzinfo is not None:
            return parsed
    return None


def _parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(re.sub(r"Z$", "+00:00", value))


_XML_PARSER_OPTIONS = dict(resolve_entities=False, no_network=True, huge_tree=False, recover=True, remove_comments=True)


def parse_sitemap(body: bytes, *, url: str) -> Sitemap:
    """A sitemap or sitemap index, including Google News `publication_date`s."""
    parser = lxml.etree.XMLParser(**_XML_PARSER_OPTIONS)
    try:
        root = lxml.etree.fromstring(body, parser=parser)
    except lxml.etree.XMLSyntaxError as error:
        raise DiscoveryError(f"malformed sitemap: {error}") from None
    if root is None:
        raise DiscoveryError("empty sitemap")
    kind = lxml.etree.QName(root).localname
    if kind not in ("urlset", "sitemapindex"):
        raise DiscoveryError(f"not a sitemap (root element <{kind}>)")
    links, sitemaps = [], []
    for entry in root:
        if not isinstance(entry.tag, str):
            continue
        location = _child_text(entry, "loc")
        absolute = absolute_http_url(location, base=url) if location else None
        if absolute is None:
            continue
        if kind == "sitemapindex":
            sitemaps.append(absolute)
        else:
            published = _child_text(entry, "publication_date") or _child_text(entry, "lastmod")
            links.append(DiscoveredLink(absolute, parse_date(published)))
    return Sitemap(tuple(links), tuple(sitemaps))


def _child_text(element: lxml.etree._Element, localname: str) -> str | None:
    for child in element.iter():
        if isinstance(child.tag, str) and lxml.etree.QName(child).localname == localname and child.text:
            return child.text.strip()
    return None


def robots_sitemaps(body: bytes, *, url: str) -> list[str]:
    """The `Sitemap:` URLs a robots.txt names."""
    robots = Protego.parse(body.decode("utf-8", errors="replace"))
    return [absolute for sitemap in robots.sitemaps if (absolute := absolute_http_url(sitemap, base=url))]


def listing_links(body: bytes, *, url: str, pattern: re.Pattern[str]) -> list[DiscoveredLink]:
    """Links on a section or home page whose absolute URL matches the source's article pattern."""
    try:
        document = lxml.html.document_fromstring(body)
    except (lxml.etree.ParserError, ValueError) as error:
        raise DiscoveryError(f"unparseable listing page: {error}") from None
    links = []
    for href in document.xpath("//a/@href"):
        absolute = absolute_http_url(str(href), base=url)
        if absolute and pattern.search(absolute):
            links.append(DiscoveredLink(absolute))
    return links
