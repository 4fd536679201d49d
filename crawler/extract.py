"""The one wrapper around trafilatura: a fetched page in, an `ExtractedArticle` out.

trafilatura finds the body and most metadata. This module adds what a monitor needs on top:
- dates from structured data first (JSON-LD `datePublished`, `article:published_time`), then the
  feed's own date, keeping the time and its UTC offset; never the fetch time;
- the page's canonical link, canonicalised, and its language from the markup;
- the publisher's rules (`crawler.publishers`) where trafilatura leaves furniture behind.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime

import lxml.html
import trafilatura
from lxml.etree import ParserError

from crawler.article import ExtractedArticle
from crawler.discover import parse_date
from crawler.publishers import Publisher
from crawler.urls import absolute_http_url, canonicalize_url

MIN_TEXT_CHARS = 200
GENERIC = Publisher(name="generic")

PUBLISHED_META = (
    "//meta[@property='article:published_time']/@content",
    "//meta[@name='article:published_time']/@content",
    "//meta[@itemprop='datePublished']/@content",
    "//time[@itemprop='datePublished']/@datetime",
    "//meta[@name='pubdate']/@content",
)


class NoArticleError(ValueError):
    """The page holds no article text worth storing (an index, a stub, a video page)."""


def extract_article(
    html: str | bytes,
    *,
    url: str,
    source: str,
    publisher: Publisher | None = None,
    feed_published_at: datetime | None = None,
) -> ExtractedArticle:
    """Clean text and metadata of the article at `url`, or NoArticleError."""
    publisher = publisher or GENERIC
    try:
        tree = lxml.html.document_fromstring(html)
    except (ParserError, ValueError) as error:
        raise NoArticleError(f"unparseable HTML: {error}") from None
    canonical_url = _canonical_link(tree, url=url)
    language = _language(tree)
    published_at = _structured_published_at(tree) or feed_published_at
    document = trafilatura.bare_extraction(
        tree,
        url=url,
        with_metadata=True,
        include_comments=False,
        include_tables=True,
        prune_xpath=list(publisher.prune_xpaths) or None,
    )
    if document is None or not document.text:
        raise NoArticleError("extraction found no article text")
    title = (document.title or "").strip()
    if not title:
        raise NoArticleError("page has no title")
    text, byline_authors = _clean_text(document.text, publisher, title=title)
    if len(text) < MIN_TEXT_CHARS:
        raise NoArticleError(f"article text too short ({len(text)} characters)")
    return ExtractedArticle(
        url=canonicalize_url(url),
        canonical_url=canonical_url,
        source=source,
        title=title,
        text=text,
        authors=byline_authors or _split_authors(document.author),
        published_at=published_at,
        language=language or document.language,
    )


def _clean_text(text: str, publisher: Publisher, *, title: str) -> tuple[str, tuple[str, ...]]:
    """Paragraphs without furniture lines, and the authors a byline names.

    A first line repeating the title is the page's headline caught inside the article container;
    it is metadata, not body.
    """
    kept: list[str] = []
    authors: tuple[str, ...] = ()
    for line in text.splitlines():
        line = line.strip()
        if not line or publisher.is_furniture(line) or (not kept and line == title):
            continue
        if (named := publisher.byline_authors(line)) is not None:
            authors = named
            continue
        kept.append(line)
    return "\n\n".join(kept), authors


def _split_authors(author: str | None) -> tuple[str, ...]:
    if not author:
        return ()
    return tuple(name.strip() for name in author.split(";") if name.strip())


def _canonical_link(tree: lxml.html.HtmlElement, *, url: str) -> str:
    for xpath in ("//link[@rel='canonical']/@href", "//meta[@property='og:url']/@content"):
        for href in tree.xpath(xpath):
            absolute = absolute_http_url(str(href), base=url)
            if absolute:
                return canonicalize_url(absolute)
    return canonicalize_url(url)


def _language(tree: lxml.html.HtmlElement) -> str | None:
    """The primary language subtag the markup declares (`en`, `zh`, `ja`)."""
    candidates = tree.xpath("/html/@lang | //meta[@http-equiv='content-language']/@content")
    candidates += tree.xpath("//meta[@property='og:locale']/@content")
    for candidate in candidates:
        primary = re.split(r"[-_]", str(candidate).strip())[0].lower()
        if re.fullmatch(r"[a-z]{2,3}", primary):
            return primary
    return None


def _structured_published_at(tree: lxml.html.HtmlElement) -> datetime | None:
    """The publication time from JSON-LD or article meta tags, with its offset; None if absent."""
    for value in _json_ld_values(tree, "datePublished"):
        if published := parse_date(value):
            return published
    for xpath in PUBLISHED_META:
        for value in tree.xpath(xpath):
            if published := parse_date(str(value)):
                return published
    return None


def _json_ld_values(tree: lxml.html.HtmlElement, key: str) -> Iterator[str]:
    for script in tree.xpath("//script[@type='application/ld+json']/text()"):
        try:
            data = json.loads(script)
        except ValueError:
            continue
        yield from _find_key(data, key)


def _find_key(data: object, key: str) -> Iterator[str]:
    if isinstance(data, dict):
        if isinstance(data.get(key), str):
            yield data[key]
        for value in data.values():
            yield from _find_key(value, key)
    elif isinstance(data, list):
        for value in data:
            yield from _find_key(value, key)
