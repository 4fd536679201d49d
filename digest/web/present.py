"""Stored rows as the web view's templates show them: text made safe to show, terms marked, times formatted.

Stored text is web input. Titles, URLs, source names and messages are shown on one line without
control, bidirectional-override or invisible characters (`kuroshio.storage.text.one_line`), so a title
cannot reverse the text around it; an article's text keeps its paragraphs, each cleaned the same way.
Nothing here makes HTML: the templates escape every value (Jinja autoescape), and a marked term is a
`kuroshio.digest.highlight.Segment` the template wraps in `<mark>`, so no stored character is ever markup.
A link is made only of a plain http(s) URL (`kuroshio.digest.compose.safe_url`): a `javascript:` or
`data:` URL is shown as text.

Times: an article's publication time in the publisher's own UTC offset (as the page gave it), anything
Kuroshio recorded (first seen, crawls, digests) in UTC.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from kuroshio.digest.compose import MAX_TITLE_CHARS, safe_url
from kuroshio.digest.excerpts import clean_line, excerpt
from kuroshio.digest.highlight import Segment, highlight, term_patterns
from kuroshio.storage.articles import published_local
from kuroshio.storage.models import Article
from kuroshio.storage.text import TermPattern, one_line

MAX_URL_CHARS = 300  # of a URL shown as text; the link itself is whole


@dataclass(frozen=True, slots=True)
class Link:
    """A URL as shown: its text, and `href` only when it is a plain http(s) link."""

    text: str
    href: str | None


@dataclass(frozen=True, slots=True)
class Moment:
    """A time as shown, and as `<time datetime>` reads it."""

    shown: str
    iso: str


@dataclass(frozen=True, slots=True)
class ArticleCard:
    """An article in a listing: title and excerpt with the terms marked."""

    id: int
    title: tuple[Segment, ...]
    lang: str | None
    source: str
    when: Moment
    when_is_published: bool
    excerpt: tuple[Segment, ...]
    topics: tuple[str, ...]
    partial: bool


@dataclass(frozen=True, slots=True)
class TopicMatchShown:
    """A topic the article matched, its score and the terms that matched."""

    topic: str
    score: str
    terms: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CopyShown:
    """Another stored copy of the same story."""

    id: int
    source: str
    title: str
    lang: str | None
    when: Moment


@dataclass(frozen=True, slots=True)
class ArticleDetail:
    """Everything the article page shows."""

    id: int
    title: tuple[Segment, ...]
    lang: str | None
    source: str
    link: Link
    canonical: Link
    published: Moment | None
    first_seen: Moment
    authors: tuple[str, ...]
    language: str | None
    partial: bool
    topics: tuple[TopicMatchShown, ...]
    paragraphs: tuple[tuple[Segment, ...], ...]
    seen_under: tuple[Link, ...]
    copies: tuple[CopyShown, ...]


def article_card(article: Article, patterns: Sequence[TermPattern]) -> ArticleCard:
    """`article` as a listing shows it, `patterns` marked in its title and excerpt."""
    published = published_local(article)
    return ArticleCard(
        id=article.id,
        title=highlight(clean_line(article.title, MAX_TITLE_CHARS), patterns),
        lang=language_tag(article.language),
        source=one_line(article.source.name),
        when=article_moment(published) if published else recorded_moment(article.first_seen_at),
        when_is_published=published is not None,
        excerpt=highlight(excerpt(article.text), patterns),
        topics=tuple(one_line(match.topic) for match in article.topic_matches),
        partial=article.partial,
    )


def article_detail(article: Article, copies: Iterable[Article]) -> ArticleDetail:
    """`article` as its page shows it, every term its topics matched marked; `copies` are the other
    stored copies of its story."""
    patterns = term_patterns(matched_terms(article))
    published = published_local(article)
    return ArticleDetail(
        id=article.id,
        title=highlight(one_line(article.title), patterns),
        lang=language_tag(article.language),
        source=one_line(article.source.name),
        link=link(article.url),
        canonical=link(article.canonical_url),
        published=article_moment(published) if published else None,
        first_seen=recorded_moment(article.first_seen_at),
        authors=tuple(one_line(author) for author in article.authors if one_line(author)),
        language=one_line(article.language) if article.language else None,
        partial=article.partial,
        topics=tuple(TopicMatchShown(one_line(match.topic), f"{match.score:g}",
                                     tuple(one_line(term) for term in match.terms))
                     for match in article.topic_matches),
        paragraphs=tuple(highlight(paragraph, patterns) for paragraph in paragraphs(article.text)),
        seen_under=tuple(link(seen.url) for seen in sorted(article.urls, key=lambda seen: seen.id)),
        copies=tuple(CopyShown(copy.id, one_line(copy.source.name), clean_line(copy.title, MAX_TITLE_CHARS),
                               language_tag(copy.language), _when(copy))
                     for copy in copies),
    )


def matched_terms(article: Article, topic: str | None = None) -> tuple[str, ...]:
    """The terms `article` matched, of `topic` only when given, each once."""
    return tuple(dict.fromkeys(term for match in article.topic_matches if topic is None or match.topic == topic
                               for term in match.terms))


def paragraphs(text: str) -> list[str]:
    """The article's paragraphs (its lines), each on one line, empty ones left out."""
    return [line for line in map(one_line, text.split("\n")) if line]


def link(url: str) -> Link:
    """`url` shown on one line, linked only when it is plain http(s)."""
    return Link(clean_line(url, MAX_URL_CHARS), safe_url(url))


def language_tag(language: str | None) -> str | None:
    """A `lang` attribute value from a stored language, or None for one that is not a plausible BCP 47
    tag (a `lang` the browser cannot read is worse than none: it would pick fonts for nothing)."""
    if not language:
        return None
    tag = language.strip()
    if 0 < len(tag) <= 35 and all(part.isascii() and part.isalnum() and 1 <= len(part) <= 8 for part in tag.split("-")):
        return tag
    return None


def article_moment(value: datetime) -> Moment:
    """A publication time in the offset it carries: 2025-12-03 08:00 +08:00."""
    return Moment(value.strftime("%Y-%m-%d %H:%M ") + _offset(value), value.isoformat())


def recorded_moment(value: datetime) -> Moment:
    """A time Kuroshio recorded, in UTC: 2025-12-03 00:30:05 UTC."""
    utc = value.astimezone(timezone.utc)
    return Moment(utc.strftime("%Y-%m-%d %H:%M:%S UTC"), utc.isoformat())


def _when(article: Article) -> Moment:
    published = published_local(article)
    return article_moment(published) if published else recorded_moment(article.first_seen_at)


def _offset(value: datetime) -> str:
    offset = value.utcoffset()
    minutes = round(offset.total_seconds() / 60) if offset is not None else 0
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
