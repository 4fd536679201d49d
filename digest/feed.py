"""Atom 1.0 feeds of the relevant articles: one per topic, and one of everything relevant.

`build_feed()` is pure (stored articles in, the feed document's bytes out) so that `kuroshio feed` and a
web view serve the same bytes; `read_feed()` reads the newest articles from the store and builds it.

What a feed says of each article:
- `id`: `tag:kuroshio,2026:article/<hash>`, where the hash is of the article's canonical URL in the form
  the store matches URLs in (either scheme, with or without `www.`: `kuroshio.storage.urls.url_variants`).
  It is never the row id: a store rebuilt by crawling again numbers its articles anew, and row ids reused
  for other articles would make a reader hide a new story as one it has shown. The canonical URL is the
  one the page declares, so the same story reached under an alias (a tracking parameter, an AMP or
  language-less path) has the same id in any store; a page declaring none is known by the URL it was
  first stored under.
- `updated`: when Kuroshio stored it. A stored article is never rewritten (a re-crawl only adds the URLs it
  was seen under), so re-crawls change no entry and a reader never shows an article twice; the feed's
  `updated` is its newest entry's.
- `published`: the publication time in the publisher's own UTC offset; when the page gave none, the time
  it was stored.
- `link rel="alternate"`: the canonical URL (the fetched one when the canonical is not plain http(s));
  `author`: each author, or the source's name when the page named none (Atom wants an author on every
  entry of a feed that has none); `source/title`: the source's name; one `category` per matched topic,
  its label naming the terms that matched (`熊本 → Japan` for a place that stood for a country);
  `summary`: the digest's excerpt, as plain text; `content` (`full_text=True`, or when the article has
  no usable link): its stored text, as plain text.

The document is built with lxml, so every title, text, author and URL is escaped as text; characters XML
1.0 forbids (C0 controls but tab, LF and CR; lone surrogates; U+FFFE and U+FFFF) are dropped from all of
them, and titles, authors and labels lose control and bidirectional-override characters as in a digest.

Settings: none; which topics exist follows `topics[]`. `kuroshio feed` takes the limit, the feed's own
address (`rel="self"`) and whether to include full texts.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import datetime
from importlib.metadata import version
from urllib.parse import quote

from lxml import etree
from sqlalchemy.orm import Session

from kuroshio.digest.compose import MAX_TITLE_CHARS, safe_url
from kuroshio.digest.excerpts import clean_line, excerpt
from kuroshio.storage.articles import list_articles, published_local
from kuroshio.storage.models import Article
from kuroshio.storage.text import one_line
from kuroshio.storage.urls import url_variants

ATOM_NAMESPACE = "http://www.w3.org/2005/Atom"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
FEED_MEDIA_TYPE = "application/atom+xml"
# RFC 4151 tag URIs: names, never fetched, so a feed moved to another host keeps every id.
TAG_PREFIX = "tag:kuroshio,2026:"
TOPIC_SCHEME = f"{TAG_PREFIX}topic"

# What XML 1.0 cannot carry at all (its Char production), in any text or attribute value.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# RFC 4287's atomLanguageTag: a page's language that is not one is left out rather than invalidate the feed.
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*")


def feed_id(topic: str | None) -> str:
    """The id of the feed of `topic`, or of every relevant article (None)."""
    return f"{TAG_PREFIX}feed/topic/{quote(topic, safe='')}" if topic is not None else f"{TAG_PREFIX}feed/relevant"


def entry_id(article: Article) -> str:
    """The id of `article`'s entry: a hash of its canonical URL, the same under either scheme and with or
    without `www.` (its least variant is hashed), so the same in every store that holds the story."""
    identity = min(url_variants(article.canonical_url or article.url))
    return f"{TAG_PREFIX}article/{hashlib.sha256(identity.encode('utf-8')).hexdigest()[:32]}"


def read_feed(session: Session, *, topic: str | None, limit: int | None, now: datetime,
              self_url: str | None = None, full_text: bool = False) -> bytes:
    """The feed of the `limit` newest articles matching `topic` (None: any topic); `now` dates an empty one."""
    articles = list_articles(session, topic=topic, limit=limit)
    return build_feed(articles, topic=topic, now=now, self_url=self_url, full_text=full_text)


def build_feed(articles: Sequence[Article], *, topic: str | None, now: datetime, self_url: str | None = None,
               full_text: bool = False) -> bytes:
    """The Atom document (UTF-8, with its XML declaration) of `articles`, in the order given.

    `now` is the feed's `updated` only when it has no entry; otherwise that is its newest entry's, so
    building it again from the same store gives the same bytes. `self_url`, the address the feed is
    served at, becomes its `rel="self"` link.
    """
    feed = etree.Element(f"{{{ATOM_NAMESPACE}}}feed", nsmap={None: ATOM_NAMESPACE})
    _add(feed, "id", feed_id(topic))
    _add(feed, "title", f"Kuroshio: {topic}" if topic is not None else "Kuroshio: every relevant article")
    updated = max((article.first_seen_at for article in articles), default=now)
    _add(feed, "updated", _rfc3339(updated))
    _add(feed, "generator", "Kuroshio", version=version("kuroshio"))
    if self_url is not None:
        _add(feed, "link", rel="self", type=FEED_MEDIA_TYPE, href=self_url)
    for article in articles:
        feed.append(_entry(article, full_text=full_text))
    return etree.tostring(feed, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _entry(article: Article, *, full_text: bool) -> etree._Element:
    entry = etree.Element(f"{{{ATOM_NAMESPACE}}}entry")
    if article.language and _LANGUAGE_TAG.fullmatch(article.language):
        entry.set(XML_LANG, article.language)
    _add(entry, "id", entry_id(article))
    _add(entry, "title", clean_line(_xml(article.title), MAX_TITLE_CHARS), type="text")
    link = safe_url(article.canonical_url) or safe_url(article.url)
    if link is not None:
        _add(entry, "link", rel="alternate", type="text/html", href=link)
    _add(entry, "published", _rfc3339(published_local(article) or article.first_seen_at))
    _add(entry, "updated", _rfc3339(article.first_seen_at))
    source = one_line(_xml(article.source.name))
    for name in dict.fromkeys(filter(None, (one_line(_xml(author)) for author in article.authors))) or (source,):
        _add(_add(entry, "author"), "name", name)
    _add(_add(entry, "source"), "title", source, type="text")
    for match in article.topic_matches:
        label = f"{match.topic}: {', '.join(match.terms)}" if match.terms else match.topic
        _add(entry, "category", term=match.topic, scheme=TOPIC_SCHEME, label=one_line(_xml(label)))
    text = _xml(article.text)
    _add(entry, "summary", excerpt(text), type="text")
    if full_text or link is None:  # an entry needs a link to its page or its content (RFC 4287, 4.1.2)
        _add(entry, "content", "\n\n".join(filter(None, map(one_line, text.split("\n")))), type="text")
    return entry


def _add(parent: etree._Element, name: str, text: str | None = None, **attributes: str) -> etree._Element:
    """A child Atom element of `parent`: its text and attribute values with what XML 1.0 forbids dropped."""
    child = etree.SubElement(parent, f"{{{ATOM_NAMESPACE}}}{name}", {key: _xml(value) for key, value in attributes.items()})
    if text is not None:
        child.text = _xml(text)
    return child


def _xml(text: str) -> str:
    """`text` without the characters XML 1.0 cannot carry; dropped before a text is cleaned and cut, so a
    dropped one leaves no double space behind."""
    return _NOT_XML.sub("", text)


def _rfc3339(moment: datetime) -> str:
    """An Atom date: RFC 3339 to the second, with the moment's own UTC offset."""
    return moment.isoformat(timespec="seconds")
