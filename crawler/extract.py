"""The one wrapper around trafilatura: a fetched page in, an `ExtractedArticle` out.

A page arrives as bytes with its Content-Type and is decoded by `crawler.decode` first (a body that is
no page at all raises its `NotHtmlError`); text is taken as is. trafilatura then finds the body and
most metadata. This module adds what a monitor needs on top:
- dates from structured data first (JSON-LD `datePublished`, `article:published_time`), then the
  page's visible date stamp, then the feed's own date, keeping the time and its UTC offset; never the
  fetch time. A date without an offset counts only on a publisher's page, read in the publisher's
  zone (`Publisher.timezone`); the visible stamp only in the formats the publisher declares;
- the page's canonical link, canonicalised, and its language from the markup;
- a title on one line (control characters, CR/LF included, fold to spaces), cut to `MAX_TITLE_CHARS`
  at a word boundary with an ellipsis: a 10 kB `<title>` is a broken or hostile page, not a headline;
- the publisher's rules (`crawler.publishers`) where trafilatura leaves furniture behind.

A page with more than `MAX_PAGE_ELEMENTS` elements is not read (`PageTooLarge`, "too large" in the
run record): what extraction costs is bounded by page, as `[crawl] max_page_bytes` bounds the bytes.
A page with no article raises `NoArticleError` ("no content" in the run record), never an empty or
fake article: no text or title; too little text by the evidence `crawler.evidence` weighs (size in
words fair to Chinese and Japanese, sentences, article markup: a two-sentence brief is an article, a
one-line teaser or an empty `<body>` is not); text that is mostly link labels (`MAX_LINK_DENSITY`: a
section index served at an article URL, a redesigned page where extraction only finds navigation).
Consent and cookie walls (modal dialogs, elements named consent/gdpr/cookie-banner: `_is_overlay`) are
pruned before extraction, so a page that is only such a wall has nothing left. A page that shows the
article only in part — a declared paywall, Focus Taiwan's archive notice — is stored with its title
and lead, marked `partial`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from copy import deepcopy
from datetime import datetime, timezone
from itertools import chain
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import lxml.etree
import lxml.html
import trafilatura
from lxml.etree import ParserError
from trafilatura.settings import DEFAULT_CONFIG, Document
from trafilatura.xml import delete_element

from kuroshio.crawler.decode import decode_html
from kuroshio.crawler.discover import BadLink, absolute_http_url, parse_date
from kuroshio.crawler.evidence import PageEvidence, drop_truncation_notices, page_evidence, too_little_text
from kuroshio.crawler.publishers import DATE_STAMP_ELEMENTS, MAX_PRUNED_TEXT_CHARS, Publisher
from kuroshio.storage.records import ExtractedArticle
from kuroshio.storage.text import one_line
from kuroshio.storage.urls import canonicalize_url

# fast: no fallback extractors (justext, readability); with comments removed at parse time it scores
# higher on the extraction benchmark than the fallbacks did, and extracts 30% faster.
TRAFILATURA_OPTIONS = {"with_metadata": True, "include_comments": False, "include_tables": True, "fast": True}
# trafilatura replaces a body shorter than MIN_EXTRACTED_SIZE (250 characters) with a "rescue": the text
# of the page's <article>, its paragraphs or, below 100 characters of those, the whole page, navigation
# included. A two-sentence Chinese or Japanese brief is always that short. So a page is read first
# without the rescue, and with it only when that first reading is no article.
_NO_RESCUE_CONFIG = deepcopy(DEFAULT_CONFIG)
_NO_RESCUE_CONFIG.set("DEFAULT", "MIN_EXTRACTED_SIZE", "0")
_OPTIONS_WITHOUT_RESCUE = {**TRAFILATURA_OPTIONS, "config": _NO_RESCUE_CONFIG}
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
_FOLD_PROBE_CHARS = 4 * MAX_PRUNED_TEXT_CHARS  # enough of a text to fold past the limit, blank lines and all
GENERIC = Publisher(name="generic")
# Most elements (start tags) of a page given to extraction, which costs about linearly in them: 20,000
# take a second and some 40 MiB; a hostile 5 MB page of 150,000 paragraphs took a minute and 470 MiB.
# The largest page of the extraction benchmark has 1,737, a heavy news page a few thousand.
MAX_PAGE_ELEMENTS = 20_000
_START_TAG = re.compile(r"<[A-Za-z]")  # counted on the text, before anything is parsed

# The decoded page is handed to lxml as UTF-8 with the encoding stated, so a `<meta charset>` or an
# XML declaration inside it cannot make libxml2 decode it a second time.
# Comments and processing instructions are dropped at parse time: trafilatura can lose half a body
# to a comment inside it (seen on two pages of the extraction benchmark).
# C0 control characters other than tab and line breaks, raw or as character references: libxml2 stops
# reading the text at one (`\x0b`, `&#11;`, ESC), so a single stray one lost a whole article. Never text.
# Two patterns, not one alternation tried three ways at every character of a page (0.2 ms a page): a
# character class, then references with their literal "&#" first, which re finds by a fast search. A
# reference is printable ASCII, so replacing the raw characters first can neither make nor break one.
_RAW_CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL_CHARACTER_REFERENCE = re.compile(r"&#(?:0*(?:[0-8]|1[1-2]|1[4-9]|2[0-9]|3[01]|127)"
                                          r"|[xX]0*(?:[0-8]|[bBcCeEfF]|1[0-9a-fA-F]|7[fF]));")
_UTF8_HTML_PARSER = lxml.html.HTMLParser(encoding="utf-8", remove_comments=True, remove_pis=True)

PUBLISHED_META = (
    "//meta[@property='article:published_time']/@content",
    "//meta[@name='article:published_time']/@content",
    "//meta[@itemprop='datePublished']/@content",
    "//time[@itemprop='datePublished']/@datetime",
    "//meta[@name='pubdate']/@content",
)
# A structured date without an offset must still say the time of day to be read in a publisher's zone.
_LOCAL_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{1,2}:\d{2}")
# "Mar. 31", "Sept. 4": the dot (and Sept's t) that `%b` does not read.
_MONTH_ABBREVIATION = re.compile(r"\b(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]?\.", re.IGNORECASE)
_DATE_STAMP_SCOPE = f"//h1/following::*[position() <= {DATE_STAMP_ELEMENTS}]"
_MAX_DATE_STAMP_WORDS = 24


class NoArticleError(ValueError):
    """The page holds no article text worth storing (an index, a stub, a video page)."""


class PageTooLarge(NoArticleError):
    """The page has more elements than extraction reads (`MAX_PAGE_ELEMENTS`)."""


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
    if (elements := len(_START_TAG.findall(html))) > MAX_PAGE_ELEMENTS:
        raise PageTooLarge(f"{elements} HTML elements, more than the {MAX_PAGE_ELEMENTS} extraction reads")
    html = _without_control_characters(html)
    try:
        tree = lxml.html.document_fromstring(html.encode("utf-8", "surrogatepass"), parser=_UTF8_HTML_PARSER)
    except (ParserError, ValueError) as error:
        raise NoArticleError(f"unparseable HTML: {error}") from None
    canonical_url = _canonical_link(tree, url=url)
    language = _language(tree)
    published_at = _published_at(tree, publisher) or feed_published_at
    markup_authors = _markup_authors(tree, publisher)
    link_labels = _link_labels(tree)
    evidence = page_evidence(tree)
    _prune_overlays(tree)
    _prune_furniture_texts(tree, publisher)
    try:
        body = _read_body(tree, url=url, publisher=publisher, evidence=evidence, link_labels=link_labels,
                          options=_OPTIONS_WITHOUT_RESCUE)
    except NoArticleError:
        body = _read_body(tree, url=url, publisher=publisher, evidence=evidence, link_labels=link_labels,
                          options=TRAFILATURA_OPTIONS)
    document = body.document
    return ExtractedArticle(
        url=canonicalize_url(url),
        canonical_url=canonical_url,
        source=source,
        title=body.title,
        text=body.text,
        authors=body.byline_authors or markup_authors or publisher.persons(_split_authors(document.author)),
        published_at=published_at,
        language=language or document.language,
        partial=body.partial,
    )


def _without_control_characters(html: str) -> str:
    """`html` with each control character libxml2 stops at, raw or as a reference, made a space."""
    return _CONTROL_CHARACTER_REFERENCE.sub(" ", _RAW_CONTROL_CHARACTER.sub(" ", html))


class _Body(NamedTuple):
    """What one extraction of a page found: trafilatura's document and the cleaned title and text."""

    document: Document
    title: str
    text: str
    byline_authors: tuple[str, ...]
    partial: bool


def _read_body(
    tree: lxml.html.HtmlElement,
    *,
    url: str,
    publisher: Publisher,
    evidence: PageEvidence,
    link_labels: frozenset[str],
    options: dict[str, Any],
) -> _Body:
    """The article body trafilatura finds with `options`, judged on `evidence`; NoArticleError when
    it is no article."""
    document = trafilatura.bare_extraction(tree, url=url, prune_xpath=list(publisher.prune_xpaths) or None, **options)
    # With as_dict off (the default since trafilatura 2.0) the result is a Document, never a dict.
    if not isinstance(document, Document) or not document.text:
        raise NoArticleError("extraction found no article text")
    title = clean_title(document.title or "")
    if not title:
        raise NoArticleError("page has no title")
    text, byline_authors = _clean_text(document.text, publisher, title=one_line(document.title or ""))
    text, truncated = drop_truncation_notices(text)
    partial = evidence.paywalled or truncated
    if (density := _link_density(text, link_labels)) > MAX_LINK_DENSITY:
        raise NoArticleError(f"page is an index, not an article ({density:.0%} of its text is link labels)")
    # Navigation is not article text: lines that are a link's label do not count towards its size.
    if reason := too_little_text(_unlinked_text(text, link_labels), markup=evidence.markup, partial=partial):
        raise NoArticleError(reason)
    return _Body(document, title, text, byline_authors, partial)


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


def _prune_furniture_texts(tree: lxml.html.HtmlElement, publisher: Publisher) -> None:
    """Remove the outermost elements whose whole text is one of the publisher's furniture texts.

    Outermost: a banner goes with its buttons; the text is matched whole, so nothing else goes with it.
    """
    if not publisher.prune_texts:
        return
    verdicts: dict[str, bool] = {}  # nested wrappers often hold one same text: each is judged once
    matched = set()
    for element in tree.iter():
        if isinstance(element.tag, str) and element.tag not in _PAGE_FRAME and (text := _short_text(element)) is not None:
            if text not in verdicts:
                verdicts[text] = publisher.is_pruned_text(text)
            if verdicts[text]:
                matched.add(element)
    for element in [element for element in matched if not matched.intersection(element.iterancestors())]:
        delete_element(element)


def _short_text(element: lxml.html.HtmlElement) -> str | None:
    """The element's whole text, white space folded; None when it is longer than any furniture text.

    Folding the whole text of every container (the page's, the body's, the article's) cost 0.5 ms a
    page. Folding a part of a text never makes it longer than folding all of it, so when its start alone
    folds past `MAX_PRUNED_TEXT_CHARS` the rest need not be read.
    """
    text = element.text_content()
    if len(text) > _FOLD_PROBE_CHARS and len(" ".join(text[:_FOLD_PROBE_CHARS].split())) > MAX_PRUNED_TEXT_CHARS:
        return None
    return " ".join(text.split())


def _markup_authors(tree: lxml.html.HtmlElement, publisher: Publisher) -> tuple[str, ...]:
    """The authors the publisher's author elements name (a byline box, links to journalists' pages)."""
    names: list[str] = []
    for xpath in publisher.author_xpaths:
        for element in tree.xpath(xpath):
            names.extend(publisher.element_authors(element.text_content()))
    return publisher.persons(names)


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


def _unlinked_text(text: str, link_labels: frozenset[str]) -> str:
    """`text` without the lines that are exactly some link's label."""
    return "\n\n".join(line for line in text.split("\n\n") if " ".join(line.split()) not in link_labels)


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
            try:
                absolute = absolute_http_url(str(href), base=url)
            except BadLink:
                continue  # a malformed canonical link claims nothing: the page is its own article
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


def _published_at(tree: lxml.html.HtmlElement, publisher: Publisher) -> datetime | None:
    """The page's own publication time: structured data first, then the visible date stamp."""
    zone = ZoneInfo(publisher.timezone) if publisher.timezone else None
    return _structured_published_at(tree, zone=zone) or _visible_published_at(tree, publisher, zone=zone)


def _structured_published_at(tree: lxml.html.HtmlElement, *, zone: ZoneInfo | None = None) -> datetime | None:
    """The publication time from JSON-LD or article meta tags, with its offset; None if absent.

    A value without an offset is read in `zone` (the publisher's) when one is given, else ignored.
    """
    values = chain(_json_ld_values(tree, "datePublished"), (str(value) for xpath in PUBLISHED_META
                                                             for value in tree.xpath(xpath)))
    for value in values:
        if published := parse_date(value) or _local_date_time(value, zone):
            return published
    return None


def _local_date_time(value: str, zone: ZoneInfo | None) -> datetime | None:
    """An ISO 8601 date and time without an offset, read in `zone`; None without a zone or a time."""
    value = value.strip()
    if zone is None or not _LOCAL_DATE_TIME.match(value):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return _in_zone(parsed, zone) if parsed.tzinfo is None else None


def _visible_published_at(tree: lxml.html.HtmlElement, publisher: Publisher, *,
                          zone: ZoneInfo | None) -> datetime | None:
    """The date stamp shown near the headline, in the publisher's formats and zone; None if absent."""
    if zone is None or not publisher.date_formats:
        return None
    for xpath in publisher.date_xpaths or (_DATE_STAMP_SCOPE,):
        for element in tree.xpath(xpath):
            if stamp := date_stamp(element.text_content(), publisher.date_formats):
                return _in_zone(stamp, zone)
    return None


def date_stamp(text: str, formats: tuple[str, ...]) -> datetime | None:
    """The first run of words in `text` that reads as one of the `strptime` `formats` (naive), or None."""
    words = _MONTH_ABBREVIATION.sub(lambda match: match.group(1), text).split()
    if len(words) > _MAX_DATE_STAMP_WORDS:
        return None
    for date_format in formats:
        width = len(date_format.split())
        for start in range(len(words) - width + 1):
            try:
                return datetime.strptime(" ".join(words[start:start + width]), date_format)
            except ValueError:
                continue
    return None


def _in_zone(local: datetime, zone: ZoneInfo) -> datetime:
    """A naive local time in `zone`, with that zone's UTC offset at the time as a fixed offset."""
    offset = local.replace(tzinfo=zone).utcoffset()
    assert offset is not None  # a ZoneInfo always has an offset
    return local.replace(tzinfo=timezone(offset))


def _json_ld_values(tree: lxml.html.HtmlElement, key: str) -> Iterator[str]:
    for script in tree.xpath("//script[@type='application/ld+json']/text()"):
        try:
            data = json.loads(script)
        except (ValueError, RecursionError):  # nested past Python's recursion limit: no usable data
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
