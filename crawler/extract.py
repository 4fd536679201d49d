"""The one wrapper around trafilatura: a fetched page in, an `ExtractedArticle` out.

Decoding comes first, here, because nothing downstream gets it right for legacy pages: Scrapy's
`response.text` believes the HTTP header even when it is a server default the page never meant, and
trafilatura, given bytes, guesses on its own. So the page arrives as bytes with its Content-Type, and
its encoding is chosen from the evidence in this order, the first that holds:

1. A byte-order mark: it is part of the bytes, so nothing can contradict it.
2. The HTTP header's charset, if the body decodes under it without an error *and* reads as text.
3. The page's own `<meta charset>` (or http-equiv, or XML declaration), under the same test.
4. Detection by charset_normalizer, which scores candidate decodings by how natural they read.
5. Nothing holds: the first declared charset, else UTF-8, with undecodable bytes replaced.

The header comes before the page because it is the protocol's answer and usually right; but servers
attach a default (`charset=iso-8859-1` from Apache's AddDefaultCharset, `utf-8` from a framework) to
Big5, GBK, Shift_JIS and EUC-JP pages whose authors declared their real encoding in `<meta>`. A clean
decode alone proves little — windows-1252 decodes almost any bytes — so a declaration must also read
as text: charset_normalizer's mess ratio over the words holding non-ASCII characters stays below
`MAX_MESS_RATIO` (mojibake like "¥x¤W" scores far above it). Labels resolve as browsers resolve them
(WHATWG, via w3lib): big5 → big5hkscs, gb2312/gbk → gb18030, shift_jis → cp932, iso-8859-1 → cp1252.
A body that is compressed or binary (a gzip blob served as text/html) is refused as `NotHtmlError`
before anything could inflate it.

trafilatura then finds the body and most metadata. This module adds what a monitor needs on top:
- dates from structured data first (JSON-LD `datePublished`, `article:published_time`), then the
  feed's own date, keeping the time and its UTC offset; never the fetch time;
- the page's canonical link, canonicalised, and its language from the markup;
- a title on one line (control characters, CR/LF included, fold to spaces), cut to `MAX_TITLE_CHARS`
  at a word boundary with an ellipsis: a 10 kB `<title>` is a broken or hostile page, not a headline;
- the publisher's rules (`crawler.publishers`) where trafilatura leaves furniture behind.

A page with no article raises `NoArticleError` ("no content" in the run record), never an empty or
fake article: no text or title; text shorter than `MIN_TEXT_CHARS` (a paywall teaser, an empty
`<body>`); text that is mostly link labels (`MAX_LINK_DENSITY`: a section index served at an article
URL, a redesigned page where extraction only finds navigation). Consent and cookie walls (modal
dialogs, elements named consent/gdpr/cookie-banner: `_is_overlay`) are pruned before extraction,
so a page that is only such a wall has nothing left.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import charset_normalizer
import lxml.etree
import lxml.html
import trafilatura
from charset_normalizer.md import mess_ratio
from lxml.etree import ParserError
from trafilatura.xml import delete_element
from w3lib.encoding import (
    html_body_declared_encoding,
    http_content_type_encoding,
    read_bom,
    resolve_encoding,
    to_unicode,
)

from kuroshio.storage.records import ExtractedArticle
from kuroshio.crawler.discover import parse_date
from kuroshio.crawler.publishers import Publisher
from kuroshio.storage.text import one_line
from kuroshio.crawler.discover import absolute_http_url
from kuroshio.storage.urls import canonicalize_url

MIN_TEXT_CHARS = 200
# fast: no fallback extractors (justext, readability); with comments removed at parse time it scores
# higher on the extraction benchmark than the fallbacks did, and extracts 30% faster.
TRAFILATURA_OPTIONS = {"with_metadata": True, "include_comments": False, "include_tables": True, "fast": True}
MAX_TITLE_CHARS = 300
# Above this share of link labels in the extracted text, the page is an index of other pages.
MAX_LINK_DENSITY = 0.7  # 0.5 refused a real article of the extraction benchmark (63% link labels)
# Overlays that are never the article: modal dialogs and consent/cookie walls. Found in one pass over
# the elements that could be one (eight XPath scans with `translate()` cost 1.7 ms a page, more than
# half of trafilatura's own extraction), then checked in Python.
_OVERLAY_CANDIDATES = lxml.etree.XPath("//dialog | //*[@role or @aria-modal or @id or @class]")
_OVERLAY_ROLES = frozenset({"dialog", "alertdialog"})
_CONSENT_NAME = re.compile("consent|gdpr|cookie-banner|cookie-notice|cookie-wall|cookiebanner")
# Never pruned by name: sites put `...-consent-enabled` feature flags on <body>.
_PAGE_FRAME = frozenset({"html", "body", "main", "article"})
GENERIC = Publisher(name="generic")

# charset_normalizer's own threshold between text and mojibake.
MAX_MESS_RATIO = 0.2
MESS_SAMPLE_CHARS = 20_000

# Leading bytes of compressed containers: such a body is not a page, whatever its Content-Type says.
COMPRESSED_MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"PK\x03\x04", "zip"),
)
# The decoded page is handed to lxml as UTF-8 with the encoding stated, so a `<meta charset>` or an
# XML declaration inside it cannot make libxml2 decode it a second time.
# Comments and processing instructions are dropped at parse time: trafilatura can lose half a body
# to a comment inside it (seen on two pages of the extraction benchmark).
_UTF8_HTML_PARSER = lxml.html.HTMLParser(encoding="utf-8", remove_comments=True, remove_pis=True)

PUBLISHED_META = (
    "//meta[@property='article:published_time']/@content",
    "//meta[@name='article:published_time']/@content",
    "//meta[@itemprop='datePublished']/@content",
    "//time[@itemprop='datePublished']/@datetime",
    "//meta[@name='pubdate']/@content",
)


class NotHtmlError(ValueError):
    """The body is not an HTML document at all (compressed or binary bytes)."""


@dataclass(frozen=True, slots=True)
class DecodedPage:
    """A page's text, the codec it was decoded with and the evidence that chose it.

    `source` is one of "bom", "http", "meta", "detected", "fallback" (see the module docstring).
    """

    text: str
    encoding: str
    source: str


def decode_html(body: bytes, *, content_type: str | None = None) -> DecodedPage:
    """The page's text, decoded by the order above; NotHtmlError for a compressed or binary body."""
    bom_encoding, bom = read_bom(body)
    if bom_encoding and bom:
        return DecodedPage(to_unicode(body[len(bom):], bom_encoding), bom_encoding, "bom")
    if reason := _not_html(body):
        raise NotHtmlError(reason)
    declared = ((http_content_type_encoding(content_type), "http"), (html_body_declared_encoding(body), "meta"))
    for encoding, source in declared:
        if encoding and (text := _text_if_it_reads(body, encoding)) is not None:
            return DecodedPage(text, encoding, source)
    best = charset_normalizer.from_bytes(body).best()
    if best is not None and (encoding := resolve_encoding(best.encoding)):
        return DecodedPage(to_unicode(body, encoding), encoding, "detected")
    encoding = next((encoding for encoding, _ in declared if encoding), "utf-8")
    return DecodedPage(to_unicode(body, encoding), encoding, "fallback")


def _not_html(body: bytes) -> str | None:
    for magic, name in COMPRESSED_MAGIC:
        if body.startswith(magic):
            return f"{name}-compressed body"
    if b"\x00" in body[:1024]:  # no HTML holds NUL bytes; UTF-16/32 pages carry a BOM, handled before
        return "binary body"
    return None


def _text_if_it_reads(body: bytes, encoding: str) -> str | None:
    """`body` decoded with `encoding`, or None if it does not decode cleanly or reads as mojibake."""
    try:
        text = body.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None
    if codecs.lookup(encoding).name == "utf-8":
        return text  # legacy CJK bytes almost never form valid UTF-8: a clean decode is proof enough
    sample = _non_ascii_words(text)
    if sample and mess_ratio(sample, MAX_MESS_RATIO) >= MAX_MESS_RATIO:
        return None
    return text


def _non_ascii_words(text: str) -> str:
    """The words holding non-ASCII characters, up to MESS_SAMPLE_CHARS: ASCII markup around them would
    dilute the mess ratio of a mojibake page."""
    if text.isascii():
        return ""
    words: list[str] = []
    length = 0
    for match in re.finditer(r"\S+", text):
        if not (word := match.group()).isascii():
            words.append(word)
            length += len(word) + 1
            if length >= MESS_SAMPLE_CHARS:
                break
    return " ".join(words)


class NoArticleError(ValueError):
    """The page holds no article text worth storing (an index, a stub, a video page)."""


def extract_article(
    page: str | bytes,
    *,
    url: str,
    source: str,
    content_type: str | None = None,
    publisher: Publisher | None = None,
    feed_published_at: datetime | None = None,
) -> ExtractedArticle:
    """Clean text and metadata of the article at `url`, or NoArticleError (NotHtmlError for a body
    that is no page). Bytes are decoded with `content_type` as `decode_html` does; text is taken as is."""
    publisher = publisher or GENERIC
    html = page if isinstance(page, str) else decode_html(page, content_type=content_type).text
    try:
        tree = lxml.html.document_fromstring(html.encode("utf-8", "surrogatepass"), parser=_UTF8_HTML_PARSER)
    except (ParserError, ValueError) as error:
        raise NoArticleError(f"unparseable HTML: {error}") from None
    canonical_url = _canonical_link(tree, url=url)
    language = _language(tree)
    published_at = _structured_published_at(tree) or feed_published_at
    link_labels = _link_labels(tree)
    _prune_overlays(tree)
    document = trafilatura.bare_extraction(
        tree, url=url, prune_xpath=list(publisher.prune_xpaths) or None, **TRAFILATURA_OPTIONS
    )
    if document is None or not document.text:
        raise NoArticleError("extraction found no article text")
    title = clean_title(document.title or "")
    if not title:
        raise NoArticleError("page has no title")
    text, byline_authors = _clean_text(document.text, publisher, title=one_line(document.title or ""))
    if len(text) < MIN_TEXT_CHARS:
        raise NoArticleError(f"article text too short ({len(text)} characters)")
    if (density := _link_density(text, link_labels)) > MAX_LINK_DENSITY:
        raise NoArticleError(f"page is an index, not an article ({density:.0%} of its text is link labels)")
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


def _prune_overlays(tree: lxml.html.HtmlElement) -> None:
    """Remove modal dialogs and consent walls, keeping their tail text (as trafilatura's pruning does)."""
    for element in _OVERLAY_CANDIDATES(tree):
        if _is_overlay(element):
            delete_element(element)


def _is_overlay(element: lxml.html.HtmlElement) -> bool:
    if element.tag == "dialog" or element.get("role") in _OVERLAY_ROLES or element.get("aria-modal") == "true":
        return True
    if element.tag in _PAGE_FRAME:
        return False
    return any(_CONSENT_NAME.search(element.get(name, "").lower()) for name in ("id", "class"))


def clean_title(title: str) -> str:
    """`title` on one line, white space folded, cut to `MAX_TITLE_CHARS` at a word boundary with "…"."""
    line = one_line(title)
    if len(line) <= MAX_TITLE_CHARS:
        return line
    cut = line[: MAX_TITLE_CHARS - 1]
    if " " in cut[MAX_TITLE_CHARS // 2 :]:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip() + "…"


def _is_headline(line: str, title: str) -> bool:
    """Whether `line` repeats the (uncut) title; a title past `MAX_TITLE_CHARS` may come back cut short."""
    line = one_line(line)
    if line == title:
        return True
    return min(len(line), len(title)) > MAX_TITLE_CHARS and line[:MAX_TITLE_CHARS] == title[:MAX_TITLE_CHARS]


def _link_labels(tree: lxml.html.HtmlElement) -> frozenset[str]:
    """The text of every link on the page, white space folded."""
    return frozenset(label for anchor in tree.iter("a") if (label := " ".join(anchor.text_content().split())))


def _link_density(text: str, link_labels: frozenset[str]) -> float:
    """The share of `text`'s characters on lines that are exactly some link's label."""
    lines = [" ".join(line.split()) for line in text.split("\n\n")]
    linked = sum(len(line) for line in lines if line in link_labels)
    return linked / max(1, sum(len(line) for line in lines))


def _clean_text(text: str, publisher: Publisher, *, title: str) -> tuple[str, tuple[str, ...]]:
    """Paragraphs without furniture lines, and the authors a byline names.

    A first line repeating the title is the page's headline caught inside the article container;
    it is metadata, not body.
    """
    kept: list[str] = []
    authors: tuple[str, ...] = ()
    for line in text.splitlines():
        line = line.strip()
        if not line or publisher.is_furniture(line) or (not kept and _is_headline(line, title)):
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
