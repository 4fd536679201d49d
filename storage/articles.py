"""Storing extracted articles once, and reading them back.

Transactions: `store_articles` is one transaction of its own: it commits before returning and rolls
back entirely if it raises. Callers never commit for it; they pass a session with no staged changes.

Duplicates: an article is the same as a stored one when any of its URLs (fetched, canonical, or
redirects seen on the way) is already known — under either scheme, with or without `www.`
(`kuroshio.storage.urls.url_variants`) — or when its body has the same `content_sha256`. The new URLs
are then kept as aliases, as they were seen, so the crawler never fetches them again (`known_links`).

Known links: a crawl asks only about the links it discovered (`known_links`), in indexed `IN (...)`
lookups of at most `KNOWN_LINKS_PER_QUERY` URL forms, and the same-body check looks up one fingerprint
on its index: what a crawl costs follows what it found, never the size of the archive.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import ColumnElement, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from kuroshio.storage.engine import write_transaction
from kuroshio.storage.models import (
    MAX_URL_LENGTH,
    Article,
    ArticleTopic,
    ArticleURL,
    PageFailure,
    Source,
    effective_date,
)
from kuroshio.storage.page_failures import FAILED_PAGE_RECHECK
from kuroshio.storage.records import ExtractedArticle, TopicMatch
from kuroshio.storage.search_index import index_articles
from kuroshio.storage.sources import add_source_if_missing
from kuroshio.storage.timestamps import as_stored, require_aware, utc_offset_minutes
from kuroshio.storage.urls import url_variants

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StoreResult:
    """Which stored article an extracted article ended up as, and whether it was new."""

    article_id: int
    created: bool


# URL forms per `IN (...)` lookup: far below every backend's bound on parameters (SQLite's is 32,766).
KNOWN_LINKS_PER_QUERY = 500


def known_links(session: Session, urls: Iterable[str], *, now: datetime) -> set[str]:
    """Which of `urls` a crawl need not fetch: those a stored article was seen under in any of their
    `kuroshio.storage.urls.url_variants`, and the pages that failed for good (gone, no article) within
    the last `FAILED_PAGE_RECHECK` before `now`.

    Each query asks about at most `KNOWN_LINKS_PER_QUERY` forms on the unique indexes of
    `article_urls.url` and `page_failures.url`, so its cost grows with the links asked about, not the archive.
    """
    forms_of = {url: url_variants(url) for url in urls}
    forms = _unique(form for variants in forms_of.values() for form in variants)
    recheck_from = as_stored(now) - FAILED_PAGE_RECHECK
    known_forms: set[str] = set()
    for start in range(0, len(forms), KNOWN_LINKS_PER_QUERY):
        chunk = forms[start:start + KNOWN_LINKS_PER_QUERY]
        known_forms.update(session.scalars(select(ArticleURL.url).where(ArticleURL.url.in_(chunk))))
        known_forms.update(session.scalars(select(PageFailure.url).where(
            PageFailure.url.in_(chunk), PageFailure.permanent, PageFailure.last_failed_at >= recheck_from)))
    return {url for url, variants in forms_of.items() if not known_forms.isdisjoint(variants)}


@dataclass(frozen=True, slots=True)
class ArticleToStore:
    """An extracted article with what the store keeps beside it, checked on construction: a naive
    `published_at` or a URL longer than `MAX_URL_LENGTH` raises ValueError here, before any write.

    `seen_urls` are further URLs the page was reached under (redirect chain, feed link).
    """

    article: ExtractedArticle
    matches: Sequence[TopicMatch] = ()
    seen_urls: Sequence[str] = ()
    # Every URL the article is known under, each once: fetched, canonical, then seen on the way.
    urls: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        require_aware(self.article.published_at, "published_at")
        article = self.article
        urls = tuple(_unique(url for url in (article.url, article.canonical_url, *self.seen_urls) if url))
        for url in urls:
            if len(url) > MAX_URL_LENGTH:
                raise ValueError(f"URL longer than {MAX_URL_LENGTH} characters refused: {url[:80]}...")
        object.__setattr__(self, "urls", urls)  # frozen: set once, here


def store_article(
    session: Session,
    article: ExtractedArticle,
    *,
    matches: Sequence[TopicMatch],
    crawl_run_id: int | None,
    seen_urls: Sequence[str] = (),
    now: datetime,
) -> StoreResult:
    """Store one article: `store_articles` with a batch of one."""
    item = ArticleToStore(article, matches=tuple(matches), seen_urls=tuple(seen_urls))
    return store_articles(session, [item], crawl_run_id=crawl_run_id, now=now)[0]


def store_articles(
    session: Session, batch: Sequence[ArticleToStore], *, crawl_run_id: int | None, now: datetime
) -> list[StoreResult]:
    """Store each article with its topic matches, or record its URLs as aliases of the article it
    duplicates (a stored one, or an earlier one of the batch); one result per article, in order.

    The whole batch is one transaction, so a crawl pays for one commit per batch instead of one per
    article: it is stored entirely or not at all. `now` is the first-seen time to record.
    """
    seen_at = as_stored(now)
    sources: dict[str, Source] = {}
    with write_transaction(session):
        _lock_articles(session, batch)
        known = _KnownArticles.look_up(session, batch)
        stored: list[Article] = []
        results = [_store_one(session, item, known=known, stored=stored, sources=sources,
                              crawl_run_id=crawl_run_id, seen_at=seen_at) for item in batch]
        index_articles(session.connection(), [(row.id, row.title, row.text) for row in stored])
        return results


@dataclass(slots=True)
class _KnownArticles:
    """The stored articles a batch's URLs (in every form) and bodies name, looked up once per batch and
    kept up to date as the batch is stored, so an article also finds the earlier ones of its batch.

    Asked of the database article by article, the two lookups were a quarter of storing a batch. The
    batch's URLs and fingerprints are locked first (`_lock_articles`), so no other writer changes them
    meanwhile.
    """

    article_by_url: dict[str, int]
    article_by_body: dict[str, int]

    @classmethod
    def look_up(cls, session: Session, batch: Sequence[ArticleToStore]) -> _KnownArticles:
        return cls.read(session, _unique(form for item in batch for form in _url_forms(item.urls)),
                        _unique(item.article.content_sha256 for item in batch))

    @classmethod
    def read(cls, session: Session, forms: Sequence[str], fingerprints: Sequence[str]) -> _KnownArticles:
        """The stored articles these URL forms and body fingerprints name, as the database has them now."""
        article_by_url: dict[str, int] = {}
        for start in range(0, len(forms), KNOWN_LINKS_PER_QUERY):
            chunk = forms[start:start + KNOWN_LINKS_PER_QUERY]
            rows = session.execute(select(ArticleURL.url, ArticleURL.article_id).where(ArticleURL.url.in_(chunk)))
            article_by_url.update({url: article_id for url, article_id in rows})
        first_with_body = (select(Article.content_sha256, func.min(Article.id))
                           .where(Article.content_sha256.in_(fingerprints)).group_by(Article.content_sha256))
        article_by_body = {fingerprint: article_id for fingerprint, article_id in session.execute(first_with_body)}
        return cls(article_by_url, article_by_body)

    def duplicate(self, urls: Sequence[str], article: ExtractedArticle) -> int | None:
        """The id of the article this one duplicates: by URL first (each URL as seen, then under its
        other scheme and `www.` forms), then by body fingerprint."""
        for url in _url_forms(urls):
            if url in self.article_by_url:
                return self.article_by_url[url]
        if not article.text.strip():
            return None  # every empty body has the same fingerprint; it identifies nothing
        return self.article_by_body.get(article.content_sha256)

    def add(self, article_id: int, urls: Sequence[str], content_sha256: str | None = None) -> None:
        """`urls` are now known as `article_id` where not known already, and so is a new body."""
        for url in urls:
            self.article_by_url.setdefault(url, article_id)
        if content_sha256 is not None:
            self.article_by_body.setdefault(content_sha256, article_id)


def _url_forms(urls: Sequence[str]) -> list[str]:
    """Each URL as seen, then under its other scheme and `www.` forms."""
    return _unique(variant for url in urls for variant in (url, *url_variants(url)))


def _store_one(
    session: Session, item: ArticleToStore, *, known: _KnownArticles, stored: list[Article],
    sources: dict[str, Source], crawl_run_id: int | None, seen_at: datetime,
) -> StoreResult:
    article, urls = item.article, item.urls
    duplicate_id = known.duplicate(urls, article)
    if duplicate_id is None:
        if article.source not in sources:
            sources[article.source] = add_source_if_missing(session, article.source)
        try:
            with session.begin_nested():
                row = _insert_article(session, item, source=sources[article.source], crawl_run_id=crawl_run_id,
                                      seen_at=seen_at)
            stored.append(row)
            known.add(row.id, urls, article.content_sha256)
            return StoreResult(article_id=row.id, created=True)
        except IntegrityError:
            # A concurrent writer stored one of these URLs after our lookup: this is its duplicate.
            duplicate_id = _find_duplicate(session, urls, article)
            if duplicate_id is None:
                raise
            logger.info("%s was stored concurrently as article %d", article.url, duplicate_id)
    _add_aliases(session, duplicate_id, urls)
    known.add(duplicate_id, urls)
    return StoreResult(article_id=duplicate_id, created=False)


def _find_duplicate(session: Session, urls: Sequence[str], article: ExtractedArticle) -> int | None:
    """`_KnownArticles.duplicate` asked of the database as it is now."""
    return _KnownArticles.read(session, _url_forms(urls), [article.content_sha256]).duplicate(urls, article)


def _insert_article(
    session: Session, item: ArticleToStore, *, source: Source, crawl_run_id: int | None, seen_at: datetime
) -> Article:
    """The article row with its URLs and its best match per topic, written in one flush; its search index
    document (`kuroshio.storage.search_index`) is written with the batch's."""
    article = item.article
    best_by_topic: dict[str, TopicMatch] = {}
    for match in item.matches:
        if match.topic not in best_by_topic or match.score > best_by_topic[match.topic].score:
            best_by_topic[match.topic] = match
    row = Article(
        source=source,
        url=article.url,
        canonical_url=article.canonical_url or article.url,
        title=article.title,
        authors=list(article.authors),
        published_at=article.published_at.astimezone(timezone.utc) if article.published_at else None,
        published_utc_offset=utc_offset_minutes(article.published_at),
        language=article.language,
        text=article.text,
        partial=article.partial,
        content_sha256=article.content_sha256,
        first_seen_at=seen_at,
        crawl_run_id=crawl_run_id,
        urls=[ArticleURL(url=url) for url in item.urls],
        topic_matches=[ArticleTopic(topic=match.topic, score=match.score, terms=list(match.terms))
                       for match in best_by_topic.values()],
    )
    session.add(row)
    session.flush()
    return row


def _add_aliases(session: Session, article_id: int, urls: Sequence[str]) -> None:
    known = set(session.scalars(select(ArticleURL.url).where(ArticleURL.url.in_(urls))))
    for url in urls:
        if url in known:
            continue
        try:
            with session.begin_nested():
                session.add(ArticleURL(article_id=article_id, url=url))
        except IntegrityError:  # recorded concurrently; whichever article holds it, it is known now
            logger.debug("alias %s was recorded concurrently", url)


def _lock_articles(session: Session, batch: Sequence[ArticleToStore]) -> None:
    """Make writers of the same article take turns. SQLite needs nothing: its writers already do.

    On PostgreSQL: a transaction-level advisory lock on each body fingerprint (no unique constraint
    would catch a body stored twice) and on each URL, for the whole batch at once and in key order.
    Writers that share a URL then never hold each other's rows, and two batches never wait on each
    other in a cycle: taken article by article, two writers adding the same aliases deadlocked.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    names = {name for item in batch for name in (item.article.content_sha256, *item.urls)}
    digests = {hashlib.sha256(name.encode()).digest() for name in names}
    for key in sorted(int.from_bytes(digest[:8], "big", signed=True) for digest in digests):
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def newest_first() -> tuple[ColumnElement[Any], ...]:
    """Newest first by `effective_date`; among articles of the same time, the last stored first."""
    return effective_date().desc(), Article.id.desc()


def list_articles(
    session: Session,
    *,
    topic: str | None = None,
    since: datetime | None = None,
    include_unmatched: bool = False,
    source: str | None = None,
    limit: int | None = None,
) -> list[Article]:
    """Articles newest first (by publication time, else first-seen time), their topic matches loaded
    with them (an export of every article reads them in a few queries, not one per article).

    By default only articles that matched at least one topic; `topic` narrows to one topic, `since`
    (aware) to articles dated at or after it, `source` to one source name.
    """
    return list(iter_articles(session, topic=topic, since=since, include_unmatched=include_unmatched, source=source,
                              limit=limit))


EXPORT_BATCH = 500
"""Articles an export reads at a time: a year's archive exported as JSONL or CSV holds one batch in
memory, not every article with its text."""


def iter_articles(
    session: Session,
    *,
    topic: str | None = None,
    since: datetime | None = None,
    include_unmatched: bool = False,
    source: str | None = None,
    limit: int | None = None,
) -> Iterator[Article]:
    """`list_articles`, read `EXPORT_BATCH` articles at a time (each batch's topic matches with it), for
    a caller that writes each article out before it needs the next."""
    conditions = _listing_conditions(topic=topic, since=since, include_unmatched=include_unmatched, source=source)
    query = select(Article).where(*conditions).order_by(*newest_first()).options(selectinload(Article.topic_matches))
    yield from session.scalars(query.limit(limit).execution_options(yield_per=EXPORT_BATCH))


def count_articles(
    session: Session,
    *,
    topic: str | None = None,
    since: datetime | None = None,
    include_unmatched: bool = False,
    source: str | None = None,
) -> int:
    """How many articles `list_articles` with the same filters and no limit would list."""
    conditions = _listing_conditions(topic=topic, since=since, include_unmatched=include_unmatched, source=source)
    return session.scalar(select(func.count()).select_from(Article).where(*conditions)) or 0


def _listing_conditions(
    *, topic: str | None, since: datetime | None, include_unmatched: bool, source: str | None
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if topic is not None:
        conditions.append(Article.topic_matches.any(ArticleTopic.topic == topic))
    elif not include_unmatched:
        conditions.append(Article.topic_matches.any())
    if since is not None:
        require_aware(since, "since")
        conditions.append(effective_date() >= since)
    if source is not None:
        conditions.append(Article.source.has(Source.name == source))
    return conditions


def get_article(session: Session, ref: str) -> Article | None:
    """The article with numeric id `ref`, or seen under URL `ref`."""
    ref = ref.strip()
    if ref.isdigit():
        return session.get(Article, int(ref))
    seen_under = select(ArticleURL.article_id).where(ArticleURL.url == ref).scalar_subquery()
    return session.scalar(select(Article).where(Article.id == seen_under))


def published_local(article: Article) -> datetime | None:
    """The publication time in the publisher's own UTC offset (as the page gave it), or None."""
    if article.published_at is None:
        return None
    offset = timedelta(minutes=article.published_utc_offset or 0)
    return article.published_at.astimezone(timezone(offset))


def article_record(article: Article) -> dict[str, Any]:
    """`article` as a JSON-ready dict (publication time in the publisher's offset, first-seen in UTC)."""
    published = published_local(article)
    return {
        "id": article.id,
        "url": article.url,
        "canonical_url": article.canonical_url,
        "source": article.source.name,
        "title": article.title,
        "authors": list(article.authors),
        "published": published.isoformat() if published else None,
        "language": article.language,
        "text": article.text,
        "partial": article.partial,
        "first_seen_at": article.first_seen_at.isoformat(),
        "topics": [
            {"name": match.topic, "score": match.score, "terms": list(match.terms)}
            for match in article.topic_matches
        ],
    }


def _unique(urls: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(urls))
