"""Discovery documents → article links: RSS/Atom feeds, sitemaps, robots.txt, listing pages.

Pure functions over response bytes (no I/O), so each format is tested on fixture files alone.
Feeds go to feedparser as bytes (given a string it may open it as a path or URL); XML is parsed with
entity resolution and network access off, so a hostile sitemap cannot read local files.

A feed or sitemap that declares XML entities (`<!ENTITY` in its DOCTYPE) is refused before any parser
sees it: real feeds and sitemaps never need them, and they are how billion-laughs and external-entity
(XXE) documents work. feedparser strips the unsafe declarations itself, but only those written at the
start of a line, and expat then spends seconds and tens of MB before its amplification limit stops
a one-line billion laughs; refusing up front is fast, bounded, and leaves one clear error in the run.

Links are resolved against the document's URL (relative and protocol-less `//host/path` links
included) and only http(s) links survive: `javascript:`, `file:`, `mailto:` and the like never become
requests. Dates keep their UTC offset or are missing (see `parse_date`); a sitemap's `<lastmod>` is
kept apart from publication dates, since it only bounds the crawl's window (`parse_lastmod`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

import feedparser
import lxml.etree
import lxml.html
from protego import Protego
from w3lib.encoding import read_bom

from kuroshio.storage.urls import url_variants


class DiscoveryError(ValueError):
    """A discovery document that yields nothing usable (malformed XML, not a feed)."""


class BadLink(ValueError):
    """One link that is no usable URL (a port out of range or not a number, a broken IPv6 host)."""


@dataclass(frozen=True, slots=True)
class DiscoveredLink:
    """A candidate article link (or a sitemap an index names), with the dates its discovery document gave.

    `published_at`: when the article was published, as a feed entry or a news sitemap's
    `news:publication_date` says (aware, or None: see `parse_date`). `modified_at`: a sitemap's
    `<lastmod>`, when the page (or the sitemap) last changed; a lastmod is no publication date (Taiwan
    News' never changes), so it only bounds the crawl's window (`crawler.window`) and is never stored.
    """

    url: str
    published_at: datetime | None = None
    modified_at: datetime | None = None
    problem: str | None = None  # why the link, as written, is no usable URL (`BadLink`); never requested


@dataclass(frozen=True, slots=True)
class Sitemap:
    """A parsed sitemap: article links, or (for a sitemap index) further sitemaps with their lastmod."""

    links: tuple[DiscoveredLink, ...]
    children: tuple[DiscoveredLink, ...] = ()

    @property
    def sitemaps(self) -> tuple[str, ...]:
        """The URLs of the sitemaps a sitemap index names."""
        return tuple(child.url for child in self.children)


def absolute_http_url(href: str, *, base: str) -> str | None:
    """`href` resolved against `base` when it is an http(s) link, else None (javascript:, mailto:, file:);
    BadLink when it is no usable URL: one the store could not key (`url_variants`) is never followed."""
    try:
        resolved = urljoin(base, href.strip())
        if urlsplit(resolved).scheme not in ("http", "https"):
            return None
        url_variants(resolved)
    except ValueError as error:
        raise BadLink(f"bad link: {error}") from None
    return resolved


def discovered_link(href: str, *, base: str, published_at: datetime | None = None,
                    modified_at: datetime | None = None) -> DiscoveredLink | None:
    """The link `href` names in a discovery document (None for one that is not http(s)); a bad one is
    kept with its `problem`, so that one link is recorded and skipped, and the rest of the document read."""
    try:
        absolute = absolute_http_url(href, base=base)
    except BadLink as error:
        return DiscoveredLink(href.strip(), problem=str(error))
    return DiscoveredLink(absolute, published_at, modified_at) if absolute else None


def parse_feed(body: bytes, *, url: str) -> list[DiscoveredLink]:
    """Links of an RSS or Atom feed, with each entry's own date; entries that parse survive truncation."""
    refuse_entity_declarations(body)
    parsed = feedparser.parse(body, response_headers={"content-location": url})
    if not parsed.entries:
        reason = parsed.get("bozo_exception") or "no entries"
        raise DiscoveryError(f"not a usable feed: {reason}")
    links = []
    for entry in parsed.entries:
        href = entry.get("link") or _entry_alternate(entry)
        published_at = parse_date(entry.get("published") or entry.get("updated"))
        if href and (link := discovered_link(href, base=url, published_at=published_at)):
            links.append(link)
    return links


def _entry_alternate(entry: feedparser.FeedParserDict) -> str | None:
    for link in entry.get("links", ()):
        if link.get("rel", "alternate") == "alternate" and link.get("href"):
            return link["href"]
    return None


# Spellings of the UTC offset that feeds use but the RFC 822 parser does not know. "CST" is not among
# them on purpose: RFC 822 reads it as US Central (-06:00), Taiwanese and Chinese feeds mean China
# Standard Time (+08:00), so a bare "CST" is ambiguous and the date is left missing.
EXTRA_ZONES = {"JST": "+0900", "KST": "+0900", "HKT": "+0800"}
AMBIGUOUS_ZONES = frozenset({"CST"})
_NUMERIC_OFFSET = re.compile(r"[+-]\d{2}:?\d{2}$")


def parse_date(value: str | None) -> datetime | None:
    """An aware datetime from an RFC 822 (RSS) or ISO 8601 (Atom, sitemaps) date; None if unsure.

    The common broken spellings are accepted: a trailing zone comment (`+0800 (CST)`), no weekday or
    seconds, two-digit years, lower-case month names, `+08:00` in an RFC 822 date, a space or a
    slash-separated date in ISO form, a lower-case `z`. A date without a UTC offset (or with only an
    ambiguous zone name, or RFC 2822's "unknown" `-0000`) is missing rather than guessed: a wrong
    offset is worse than none.
    """
    if not value:
        return None
    value = re.sub(r"\([^)]*\)", " ", value).strip()  # RFC 822 comments: "+0800 (CST)"
    for parse in (_parse_iso, _parse_rfc822):
        try:
            parsed = parse(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            continue
        if parsed is not None and parsed.tzinfo is not None:
            return parsed
    return None


def _parse_iso(value: str) -> datetime:
    value = re.sub(r"^(\d{4})/(\d{1,2})/(\d{1,2})", r"\1-\2-\3", value)
    return datetime.fromisoformat(re.sub(r"[Zz]$", "+00:00", value))


def _parse_rfc822(value: str) -> datetime | None:
    words = value.split()
    if len(words) > 1 and words[-1].isalpha() and _NUMERIC_OFFSET.match(words[-2]):
        words.pop()  # "+0800 CST": the number is the zone, the name only a label
    zone = words[-1].upper() if words else ""
    if zone in AMBIGUOUS_ZONES:
        return None
    if zone in EXTRA_ZONES:
        words[-1] = EXTRA_ZONES[zone]
    if _NUMERIC_OFFSET.match(words[-1]):
        words[-1] = words[-1].replace(":", "")  # "+08:00" in an RFC 822 date
    return parsedate_to_datetime(" ".join(words))


# A DOCTYPE can only stand in the prolog — after the XML declaration, comments, processing instructions
# and white space — and entities can only be declared in its internal subset "[...]". Both patterns
# consume each byte once (quoted literals whole), so a hostile document cannot make the check slow.
_PROLOG_ITEM = re.compile(rb"\s+|<\?.*?\?>|<!--.*?-->", re.DOTALL)
# Possessive: the three alternatives start with different bytes, so nothing is ever worth backtracking
# into, and a hostile `<!DOCTYPE "...` run leaves no backtracking state behind (about 800 bytes per
# quote otherwise: hundreds of megabytes on a page at the size limit).
_DOCTYPE_HEAD = re.compile(rb"""<!DOCTYPE(?:[^>\["']++|"[^"]*+"|'[^']*+')*+[>\[]""", re.IGNORECASE)
_ENTITY_DECLARATION = re.compile(rb"<!ENTITY", re.IGNORECASE)
# Wide encodings of a document without a byte-order mark, told by which of its first four bytes are NUL
# (as XML 1.0 appendix F and expat tell them).
_WIDE_BY_NULS = {
    (True, True, True, False): "utf-32-be",
    (False, True, True, True): "utf-32-le",
    (True, False, True, False): "utf-16-be",
    (False, True, False, True): "utf-16-le",
}


def refuse_entity_declarations(body: bytes) -> None:
    """DiscoveryError if an XML document declares entities (billion laughs, XXE), before any parsing."""
    document = _ascii_compatible(body)
    position = 0
    while prolog_item := _PROLOG_ITEM.match(document, position):
        position = prolog_item.end()
    doctype = _DOCTYPE_HEAD.match(document, position)
    if doctype and doctype.group().endswith(b"[") and _ENTITY_DECLARATION.search(document, doctype.end()):
        raise DiscoveryError("refused: the document declares XML entities (<!ENTITY>), which feeds "
                             "and sitemaps never need (billion laughs, external entities)")


def _ascii_compatible(body: bytes) -> bytes:
    """`body` without a byte-order mark, transcoded to UTF-8 if it is UTF-16 or UTF-32 (where markup
    is not ASCII bytes)."""
    encoding, bom = read_bom(body)
    if encoding is None:
        nuls = tuple(byte == 0 for byte in body[:4])
        encoding = _WIDE_BY_NULS.get(nuls) if len(nuls) == 4 else None
    body = body[len(bom or b""):]
    if encoding is None or encoding == "utf-8":
        return body
    return body.decode(encoding, errors="replace").encode("utf-8")


_XML_PARSER_OPTIONS = dict(resolve_entities=False, no_network=True, huge_tree=False, recover=True, remove_comments=True)


def parse_sitemap(body: bytes, *, url: str) -> Sitemap:
    """A sitemap or sitemap index: each entry with its Google News `publication_date` and its `lastmod`."""
    refuse_entity_declarations(body)
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
    entries = []
    for entry in root:
        if not isinstance(entry.tag, str):
            continue
        location = _child_text(entry, "loc")
        link = location and discovered_link(location, base=url,
                                            published_at=parse_date(_child_text(entry, "publication_date")),
                                            modified_at=parse_lastmod(_child_text(entry, "lastmod")))
        if link:
            entries.append(link)
    if kind == "sitemapindex":
        return Sitemap((), tuple(DiscoveredLink(entry.url, modified_at=entry.modified_at, problem=entry.problem)
                                 for entry in entries))
    return Sitemap(tuple(entries))


def parse_lastmod(value: str | None) -> datetime | None:
    """A sitemap `<lastmod>` as an aware datetime; one without a UTC offset (a bare `2025-12-02`, which
    W3C Datetime allows) is read as UTC. Off by the publisher's offset at most, which the window's slack
    for lastmods absorbs; it is never stored, so nothing is passed off as a known time."""
    if not value:
        return None
    if (dated := parse_date(value)) is not None:
        return dated
    try:
        naive = _parse_iso(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return naive.replace(tzinfo=timezone.utc) if naive.tzinfo is None else naive


def _child_text(element: lxml.etree._Element, localname: str) -> str | None:
    for child in element.iter():
        if isinstance(child.tag, str) and lxml.etree.QName(child).localname == localname and child.text:
            return child.text.strip()
    return None


def robots_sitemaps(body: bytes, *, url: str) -> list[DiscoveredLink]:
    """The sitemaps a robots.txt names (`Sitemap:` lines), a bad URL among them with its `problem`."""
    robots = Protego.parse(body.decode("utf-8", errors="replace"))
    return [link for sitemap in robots.sitemaps if (link := discovered_link(sitemap, base=url))]


def listing_links(body: bytes, *, url: str, pattern: re.Pattern[str]) -> list[DiscoveredLink]:
    """Links on a section or home page whose absolute URL matches the source's article pattern."""
    try:
        document = lxml.html.document_fromstring(body)
    except (lxml.etree.ParserError, ValueError) as error:
        raise DiscoveryError(f"unparseable listing page: {error}") from None
    links = []
    for href in document.xpath("//a/@href"):
        link = discovered_link(str(href), base=url)
        # A bad link is kept only where it looks like an article link, as good ones are.
        if link and pattern.search(link.url):
            links.append(link)
    return links
