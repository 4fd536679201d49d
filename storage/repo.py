"""Queries and upserts over the archive: the only module that writes to it.

Transactions: every write function here (`ensure_source`, `store_articles`, `start_run`, `finish_run`,
`mark_interrupted_runs`) is one transaction of its own: it commits before returning and rolls back
entirely if it raises. Callers never commit for it; they pass a session with no staged changes (a read
transaction left open by earlier queries is ended first). Read functions just query.

Duplicates: an article is the same as a stored one when any of its URLs (fetched, canonical, or
redirects seen on the way) is already known — under either scheme, with or without `www.`
(`kuroshio.storage.urls.url_variants`) — or when its body has the same `content_sha256`. The new URLs are then
kept as aliases, as they were seen, so the crawler never fetches them again (`known_urls`).

Silent sources: `starved_sources` names the sources whose last `STARVED_RUNS` finished runs each
failed, or stored no new article while something went wrong (see its docstring); `kuroshio status`
flags them.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import ColumnElement, exists, func, insert, or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kuroshio.storage.records import ExtractedArticle, TopicMatch
from kuroshio.storage.records import PageFailure as CrawledPageFailure
from kuroshio.storage.urls import url_variants
from kuroshio.storage.engine import write_transaction
from kuroshio.storage.models import (
    Article,
    ArticleTopic,
    ArticleURL,
    CrawlRun,
    DigestAttempt,
    DigestDelivery,
    PageFailure,
    Source,
    effective_date,
)

logger = logging.getLogger(__name__)

FINISHED_STATUSES = ("ok", "failed", "interrupted")
MAX_RECORDED_ERRORS = 100
MAX_ERROR_REASON_CHARS = 500
MAX_URL_LENGTH = 2048  # the size of the URL columns: PostgreSQL enforces it, SQLite would not
# A page that was gone or held no article is fetched again after this long (it may have come back).
FAILED_PAGE_RECHECK = timedelta(days=7)
# How many consecutive unproductive runs make a source worth flagging (`starved_sources`).
STARVED_RUNS = 3

# Scripts written without spaces between words: FTS5's unicode61 tokenizer would index a whole run of
# them as one token, so words in them are searched as substrings (LIKE) instead.
_UNSPACED_SCRIPT = re.compile(
    "[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7af\uf900-\ufaff\U00020000-\U0002fa1f]"
)
# Runs of letters and digits: how FTS5's unicode61 tokenizer splits text into tokens, so that both search
# paths see the same words in user input (quotes, operators and other punctuation only separate them).
_WORD_PIECE = re.compile(r"[^\W_]+")


@dataclass(frozen=True, slots=True)
class StoreResult:
    """Which stored article an extracted article ended up as, and whether it was new."""

    article_id: int
    created: bool


# --- sources -------------------------------------------------------------------------------------


def ensure_source(session: Session, name: str) -> Source:
    """The source called `name`, created if it does not exist yet."""
    with write_transaction(session):
        return _ensure_source(session, name)


def _ensure_source(session: Session, name: str) -> Source:
    source = session.scalar(select(Source).where(Source.name == name))
    if source is not None:
        return source
    try:
        with session.begin_nested():
            source = Source(name=name)
            session.add(source)
        return source
    except IntegrityError:  # another writer created it since our SELECT
        return session.scalars(select(Source).where(Source.name == name)).one()


# --- articles ------------------------------------------------------------------------------------


def known_urls(session: Session, *, now: datetime | None = None) -> set[str]:
    """URLs a crawl need not fetch: every URL a stored article was seen under, and the pages that
    failed for good (gone, no article) within the last `FAILED_PAGE_RECHECK`. A link is known when any
    of its `kuroshio.storage.urls.url_variants` is in this set."""
    recheck_from = _aware_or_now(now) - FAILED_PAGE_RECHECK
    failed = select(PageFailure.url).where(PageFailure.permanent, PageFailure.last_failed_at >= recheck_from)
    return set(session.scalars(select(ArticleURL.url))) | set(session.scalars(failed))


def record_page_failures(
    session: Session, source_name: str, failures: Sequence[CrawledPageFailure], *, now: datetime | None = None
) -> None:
    """Remember article pages that could not be stored (one row per URL, attempts counted)."""
    if not failures:
        return
    failed_at = _aware_or_now(now)
    with write_transaction(session):
        source = _ensure_source(session, source_name)
        for failure in failures:
            row = session.scalar(select(PageFailure).where(PageFailure.url == failure.url))
            if row is None:
                session.add(PageFailure(source_id=source.id, url=failure.url[:MAX_URL_LENGTH],
                                        reason=failure.reason[:MAX_ERROR_REASON_CHARS], permanent=failure.permanent,
                                        attempts=1, first_failed_at=failed_at, last_failed_at=failed_at))
            else:
                row.reason = failure.reason[:MAX_ERROR_REASON_CHARS]
                row.permanent = failure.permanent
                row.attempts += 1
                row.last_failed_at = failed_at


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
        _require_aware(self.article.published_at, "published_at")
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
    now: datetime | None = None,
) -> StoreResult:
    """Store one article: `store_articles` with a batch of one."""
    item = ArticleToStore(article, matches=tuple(matches), seen_urls=tuple(seen_urls))
    return store_articles(session, [item], crawl_run_id=crawl_run_id, now=now)[0]


def store_articles(
    session: Session, batch: Sequence[ArticleToStore], *, crawl_run_id: int | None, now: datetime | None = None
) -> list[StoreResult]:
    """Store each article with its topic matches, or record its URLs as aliases of the article it
    duplicates (a stored one, or an earlier one of the batch); one result per article, in order.

    The whole batch is one transaction, so a crawl pays for one commit per batch instead of one per
    article: it is stored entirely or not at all. `now` is the first-seen time to record (default: the
    current time).
    """
    seen_at = _aware_or_now(now)
    sources: dict[str, Source] = {}
    with write_transaction(session):
        _lock_articles(session, batch)
        return [_store_one(session, item, sources=sources, crawl_run_id=crawl_run_id, seen_at=seen_at)
                for item in batch]


def _store_one(
    session: Session, item: ArticleToStore, *, sources: dict[str, Source], crawl_run_id: int | None,
    seen_at: datetime,
) -> StoreResult:
    article, urls = item.article, item.urls
    duplicate_id = _find_duplicate(session, urls, article)
    if duplicate_id is None:
        if article.source not in sources:
            sources[article.source] = _ensure_source(session, article.source)
        try:
            with session.begin_nested():
                row = _insert_article(session, item, source=sources[article.source], crawl_run_id=crawl_run_id,
                                      seen_at=seen_at)
            return StoreResult(article_id=row.id, created=True)
        except IntegrityError:
            # A concurrent writer stored one of these URLs after our lookup: this is its duplicate.
            duplicate_id = _find_duplicate(session, urls, article)
            if duplicate_id is None:
                raise
            logger.info("%s was stored concurrently as article %d", article.url, duplicate_id)
    _add_aliases(session, duplicate_id, urls)
    return StoreResult(article_id=duplicate_id, created=False)


def _find_duplicate(session: Session, urls: Sequence[str], article: ExtractedArticle) -> int | None:
    """The id of the stored article this one duplicates: by URL first (each URL as seen, then under its
    other scheme and `www.` forms), then by body fingerprint."""
    candidates = _unique(variant for url in urls for variant in (url, *url_variants(url)))
    rows = session.execute(select(ArticleURL.url, ArticleURL.article_id).where(ArticleURL.url.in_(candidates)))
    article_id_by_url = {url: article_id for url, article_id in rows}
    for url in candidates:
        if url in article_id_by_url:
            return article_id_by_url[url]
    if not article.text.strip():
        return None  # every empty body has the same fingerprint; it identifies nothing
    same_body = select(Article.id).where(Article.content_sha256 == article.content_sha256)
    return session.scalar(same_body.order_by(Article.id).limit(1))


def _insert_article(
    session: Session, item: ArticleToStore, *, source: Source, crawl_run_id: int | None, seen_at: datetime
) -> Article:
    """The article row with its URLs and its best match per topic, written in one flush."""
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
        published_utc_offset=_utc_offset_minutes(article.published_at),
        language=article.language,
        text=article.text,
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


# --- crawl runs ----------------------------------------------------------------------------------


def start_run(
    session: Session, source_name: str, *, pid: int | None = None, now: datetime | None = None
) -> int:
    """Record that a crawl of `source_name` started (status 'running'); returns the run id."""
    with write_transaction(session):
        run = CrawlRun(
            source=_ensure_source(session, source_name),
            started_at=_aware_or_now(now),
            status="running",
            pid=pid,
        )
        session.add(run)
        session.flush()
        return run.id


def finish_run(
    session: Session,
    run_id: int,
    *,
    status: str,
    pages_fetched: int,
    articles_new: int,
    articles_relevant: int,
    duplicates_skipped: int,
    errors: Sequence[dict[str, Any]],
    message: str | None = None,
    now: datetime | None = None,
) -> None:
    """Record how run `run_id` ended. `errors` are {"url", "reason"} dicts: all are counted, the first
    `MAX_RECORDED_ERRORS` kept."""
    if status not in FINISHED_STATUSES:
        raise ValueError(f"run status {status!r} is not one of {', '.join(FINISHED_STATUSES)}")
    with write_transaction(session):
        run = session.get(CrawlRun, run_id)
        if run is None:
            raise LookupError(f"no crawl run with id {run_id}")
        run.status = status
        run.finished_at = _aware_or_now(now)
        run.pages_fetched = pages_fetched
        run.articles_new = articles_new
        run.articles_relevant = articles_relevant
        run.duplicates_skipped = duplicates_skipped
        run.errors_count = len(errors)
        run.errors = [_error_record(error) for error in errors[:MAX_RECORDED_ERRORS]]
        run.message = message


def _error_record(error: dict[str, Any]) -> dict[str, str | None]:
    url = error.get("url")
    return {"url": str(url) if url else None, "reason": str(error.get("reason", ""))[:MAX_ERROR_REASON_CHARS]}


def mark_interrupted_runs(
    session: Session, *, alive: Callable[[int], bool], now: datetime | None = None
) -> int:
    """Mark 'interrupted' every 'running' run whose process is gone; returns how many.

    Runs without a pid are left alone: nothing tells whether they are still going.
    """
    finished_at = _aware_or_now(now)
    with write_transaction(session):
        running = session.scalars(
            select(CrawlRun).where(CrawlRun.status == "running", CrawlRun.pid.is_not(None))
        ).all()
        orphaned = [run for run in running if run.pid is not None and not alive(run.pid)]
        for run in orphaned:
            run.status = "interrupted"
            run.finished_at = finished_at
            run.message = f"process {run.pid} ended before finishing the run"
            logger.warning(
                "crawl run %d of %s was interrupted (pid %d is gone)", run.id, run.source.name, run.pid
            )
        return len(orphaned)


def end_runs_of_process(
    session: Session, pid: int, *, status: str, message: str, now: datetime | None = None
) -> int:
    """Finish the runs a crawl process left 'running' (it was killed, or died); returns how many."""
    finished_at = _aware_or_now(now)
    with write_transaction(session):
        open_runs = session.scalars(select(CrawlRun).where(CrawlRun.status == "running", CrawlRun.pid == pid)).all()
        for run in open_runs:
            run.status = status
            run.finished_at = finished_at
            run.message = message
            logger.warning("crawl run %d of %s ended as %s: %s", run.id, run.source.name, status, message)
        return len(open_runs)


def last_runs(session: Session) -> dict[str, CrawlRun]:
    """The most recently started run of each source, by source name."""
    ranked = select(
        CrawlRun.id,
        func.row_number()
        .over(partition_by=CrawlRun.source_id, order_by=(CrawlRun.started_at.desc(), CrawlRun.id.desc()))
        .label("recency"),
    ).subquery()
    runs = session.scalars(
        select(CrawlRun).join(ranked, ranked.c.id == CrawlRun.id).where(ranked.c.recency == 1)
    ).all()
    return {run.source.name: run for run in sorted(runs, key=lambda run: run.source.name)}


def list_runs(session: Session, *, source: str | None = None, limit: int | None = 20) -> list[CrawlRun]:
    """Runs newest first, optionally of one source only."""
    query = select(CrawlRun).order_by(CrawlRun.started_at.desc(), CrawlRun.id.desc()).limit(limit)
    if source is not None:
        query = query.where(CrawlRun.source.has(Source.name == source))
    return list(session.scalars(query))


def starved_sources(session: Session, *, runs: int = STARVED_RUNS) -> list[str]:
    """Sources whose last `runs` finished runs each came to nothing: the run failed, or it stored no new
    article and recorded errors (every link it found failed: no content, gone, too large...).

    Only 'ok' and 'failed' runs count; an interrupted run says nothing about the source and is skipped.
    A quiet run — no new article and no error — breaks the streak: a source with nothing new to say is
    not broken. A source with fewer than `runs` finished runs is not flagged yet.
    """
    ranked = select(
        CrawlRun.id,
        func.row_number()
        .over(partition_by=CrawlRun.source_id, order_by=(CrawlRun.started_at.desc(), CrawlRun.id.desc()))
        .label("recency"),
    ).where(CrawlRun.status.in_(("ok", "failed"))).subquery()
    recent = session.scalars(
        select(CrawlRun).join(ranked, ranked.c.id == CrawlRun.id).where(ranked.c.recency <= runs)
    ).all()
    runs_by_source: dict[str, list[CrawlRun]] = {}
    for run in recent:
        runs_by_source.setdefault(run.source.name, []).append(run)
    return sorted(
        name for name, source_runs in runs_by_source.items()
        if len(source_runs) == runs and all(_unproductive(run) for run in source_runs)
    )


def _unproductive(run: CrawlRun) -> bool:
    return run.status == "failed" or (run.articles_new == 0 and run.errors_count > 0)


# --- reading articles ----------------------------------------------------------------------------


def _newest_first() -> tuple[ColumnElement[Any], ...]:
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
    """Articles newest first (by publication time, else first-seen time).

    By default only articles that matched at least one topic; `topic` narrows to one topic, `since`
    (aware) to articles dated at or after it, `source` to one source name.
    """
    conditions: list[ColumnElement[bool]] = []
    if topic is not None:
        conditions.append(Article.topic_matches.any(ArticleTopic.topic == topic))
    elif not include_unmatched:
        conditions.append(Article.topic_matches.any())
    if since is not None:
        _require_aware(since, "since")
        conditions.append(effective_date() >= since)
    if source is not None:
        conditions.append(Article.source.has(Source.name == source))
    query = select(Article).where(*conditions).order_by(*_newest_first())
    return list(session.scalars(query.limit(limit)))


def get_article(session: Session, ref: str) -> Article | None:
    """The article with numeric id `ref`, or seen under URL `ref`."""
    ref = ref.strip()
    if ref.isdigit():
        return session.get(Article, int(ref))
    seen_under = select(ArticleURL.article_id).where(ArticleURL.url == ref).scalar_subquery()
    return session.scalar(select(Article).where(Article.id == seen_under))


def search_articles(session: Session, words: str, *, limit: int = 50) -> list[Article]:
    """Articles containing every word of `words` in title or text, best match first.

    Uses the SQLite FTS5 index (ranked by bm25, title hits weighing more) when there is one and the
    words are space-delimited; otherwise a case-insensitive substring match, newest first. Either way
    a word is its runs of letters and digits, in order (``"U.S."`` is ``U`` then ``S``): quotes and
    operators in user input are plain punctuation, never query syntax.
    """
    terms = [word for word in words.split() if _WORD_PIECE.search(word)]
    if not terms:
        return []
    if _has_fulltext_index(session) and not any(_UNSPACED_SCRIPT.search(term) for term in terms):
        return _search_fulltext(session, terms, limit=limit)
    return _search_substrings(session, terms, limit=limit)


def _has_fulltext_index(session: Session) -> bool:
    if session.get_bind().dialect.name != "sqlite":
        return False
    found = session.scalar(text("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'articles_fts'"))
    return bool(found)


def _search_fulltext(session: Session, terms: Sequence[str], *, limit: int) -> list[Article]:
    # Each word becomes an FTS5 string ("..." with inner quotes doubled): no operator, column filter
    # or prefix syntax from the user survives. Space-separated strings must all match.
    fts_query = " ".join('"' + term.replace('"', '""') + '"' for term in terms)
    ranked_ids = session.scalars(
        text(
            "SELECT rowid FROM articles_fts WHERE articles_fts MATCH :query "
            "ORDER BY bm25(articles_fts, 10.0, 1.0) LIMIT :limit"
        ),
        {"query": fts_query, "limit": limit},
    ).all()
    articles = session.scalars(select(Article).where(Article.id.in_(ranked_ids)))
    by_id = {article.id: article for article in articles}
    return [by_id[article_id] for article_id in ranked_ids if article_id in by_id]


def _search_substrings(session: Session, terms: Sequence[str], *, limit: int) -> list[Article]:
    conditions = []
    for term in terms:
        # The substring counterpart of the FTS5 phrase a quoted word becomes: its pieces in order. Pieces
        # are letters and digits only, so they carry no LIKE wildcard or escape character.
        pattern = "%" + "%".join(_WORD_PIECE.findall(term)) + "%"
        conditions.append(or_(Article.title.ilike(pattern), Article.text.ilike(pattern)))
    return list(session.scalars(select(Article).where(*conditions).order_by(*_newest_first()).limit(limit)))


# --- output --------------------------------------------------------------------------------------


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
        "first_seen_at": article.first_seen_at.isoformat(),
        "topics": [
            {"name": match.topic, "score": match.score, "terms": list(match.terms)}
            for match in article.topic_matches
        ],
    }


# --- small pieces --------------------------------------------------------------------------------


def _require_aware(value: datetime | None, name: str) -> None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")


def _aware_or_now(value: datetime | None) -> datetime:
    """`value` (or the current time) in UTC, as the store keeps it."""
    if value is None:
        return datetime.now(timezone.utc)
    _require_aware(value, "now")
    return value.astimezone(timezone.utc)


def _utc_offset_minutes(value: datetime | None) -> int | None:
    offset = value.utcoffset() if value is not None else None
    return None if offset is None else round(offset.total_seconds() / 60)


def _unique(urls: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(urls))


# --- digests -------------------------------------------------------------------------------------
# Exactly once: an article is owed to a digest until a row in `digest_deliveries` says otherwise, and
# that row is written (`mark_digest_delivered`) only after the mail server accepted the message.

DIGEST_FINISHED_STATUSES = ("ok", "failed", "empty", "interrupted")
# Rows per IN (...) list or multi-row INSERT: well under SQLite's and PostgreSQL's parameter limits.
_CHUNK = 500


def owed_articles(
    session: Session, *, digest: str, topics: Sequence[str] = (), since: datetime | None = None
) -> list[Article]:
    """Relevant articles not yet delivered to `digest`, newest first.

    Relevant: matched one of `topics` (any topic when empty). `since` (aware) keeps only articles
    dated at or after it (publication time, else first-seen time).
    """
    delivered = exists().where(DigestDelivery.digest == digest, DigestDelivery.article_id == Article.id)
    if topics:
        conditions: list[ColumnElement[bool]] = [Article.topic_matches.any(ArticleTopic.topic.in_(list(topics)))]
    else:
        conditions = [Article.topic_matches.any()]
    conditions.append(~delivered)
    if since is not None:
        _require_aware(since, "since")
        conditions.append(effective_date() >= since)
    query = select(Article).where(*conditions).order_by(*_newest_first())
    return list(session.scalars(query))


def delivered_article_ids(session: Session, digest: str) -> set[int]:
    """Ids of every article the mail server accepted in a digest called `digest`."""
    return set(session.scalars(select(DigestDelivery.article_id).where(DigestDelivery.digest == digest)))


def start_digest_attempt(session: Session, digest: str, *, pid: int | None, now: datetime | None = None) -> int:
    """Record that `digest` is being sent (status 'running'); returns the attempt id.

    The caller holds the digest's lease (`digest.send`), so an attempt of it still 'running' belongs
    to a process that died: it is marked 'interrupted' first.
    """
    started_at = _aware_or_now(now)
    with write_transaction(session):
        running = session.scalars(
            select(DigestAttempt).where(DigestAttempt.digest == digest, DigestAttempt.status == "running")
        ).all()
        for attempt in running:
            attempt.status = "interrupted"
            attempt.finished_at = started_at
            attempt.error = f"process {attempt.pid} ended before finishing the attempt"
            logger.warning("digest attempt %d of %s was interrupted (process %s is gone)", attempt.id, digest,
                           attempt.pid)
        attempt = DigestAttempt(digest=digest, started_at=started_at, status="running", pid=pid)
        session.add(attempt)
        session.flush()
        return attempt.id


def finish_digest_attempt(
    session: Session,
    attempt_id: int,
    *,
    status: str,
    articles_count: int,
    error: str | None = None,
    message_id: str | None = None,
    now: datetime | None = None,
) -> DigestAttempt:
    """Record how attempt `attempt_id` ended without delivering anything ('failed', 'empty')."""
    if status not in DIGEST_FINISHED_STATUSES:
        raise ValueError(f"digest attempt status {status!r} is not one of {', '.join(DIGEST_FINISHED_STATUSES)}")
    with write_transaction(session):
        return _finish_attempt(session, attempt_id, status=status, articles_count=articles_count, error=error,
                               message_id=message_id, finished_at=_aware_or_now(now))


def mark_digest_delivered(
    session: Session,
    attempt_id: int,
    *,
    article_ids: Sequence[int],
    message_id: str,
    error: str | None = None,
    now: datetime | None = None,
) -> DigestAttempt:
    """After the mail server accepted the digest: record its articles as delivered and the attempt as
    'ok', in one transaction. Articles already delivered to the digest are left as they are."""
    delivered_at = _aware_or_now(now)
    with write_transaction(session):
        attempt = session.get(DigestAttempt, attempt_id)
        if attempt is None:
            raise LookupError(f"no digest attempt with id {attempt_id}")
        unique_ids = list(dict.fromkeys(article_ids))
        already: set[int] = set()
        for chunk in _chunks(unique_ids):
            already.update(session.scalars(select(DigestDelivery.article_id).where(
                DigestDelivery.digest == attempt.digest, DigestDelivery.article_id.in_(chunk))))
        rows = [
            {"digest": attempt.digest, "article_id": article_id, "delivered_at": delivered_at, "message_id": message_id}
            for article_id in unique_ids
            if article_id not in already
        ]
        for chunk in _chunks(rows):
            session.execute(insert(DigestDelivery), chunk)
        return _finish_attempt(session, attempt_id, status="ok", articles_count=len(unique_ids), error=error,
                               message_id=message_id, finished_at=delivered_at)


def _finish_attempt(
    session: Session, attempt_id: int, *, status: str, articles_count: int, error: str | None,
    message_id: str | None, finished_at: datetime,
) -> DigestAttempt:
    attempt = session.get(DigestAttempt, attempt_id)
    if attempt is None:
        raise LookupError(f"no digest attempt with id {attempt_id}")
    attempt.status = status
    attempt.finished_at = finished_at
    attempt.articles_count = articles_count
    attempt.error = error[:MAX_ERROR_REASON_CHARS] if error else None
    attempt.message_id = message_id
    session.flush()
    return attempt


def last_digest_sent_at(session: Session, digest: str) -> datetime | None:
    """When the last digest the server accepted was started (composed), or None if none was."""
    return session.scalar(
        select(func.max(DigestAttempt.started_at)).where(DigestAttempt.digest == digest, DigestAttempt.status == "ok")
    )


def last_digest_attempts(session: Session) -> dict[str, DigestAttempt]:
    """The most recently started attempt of each digest, by digest name (for `kuroshio status`)."""
    ranked = select(
        DigestAttempt.id,
        func.row_number()
        .over(partition_by=DigestAttempt.digest, order_by=(DigestAttempt.started_at.desc(), DigestAttempt.id.desc()))
        .label("recency"),
    ).subquery()
    attempts = session.scalars(
        select(DigestAttempt).join(ranked, ranked.c.id == DigestAttempt.id).where(ranked.c.recency == 1)
    ).all()
    return {attempt.digest: attempt for attempt in sorted(attempts, key=lambda attempt: attempt.digest)}


def list_digest_attempts(session: Session, *, digest: str | None = None, limit: int | None = 20) -> list[DigestAttempt]:
    """Digest attempts newest first, optionally of one digest only."""
    query = select(DigestAttempt).order_by(DigestAttempt.started_at.desc(), DigestAttempt.id.desc()).limit(limit)
    if digest is not None:
        query = query.where(DigestAttempt.digest == digest)
    return list(session.scalars(query))


def runs_started_since(session: Session, since: datetime | None) -> list[CrawlRun]:
    """Crawl runs started at or after `since` (every run when None), oldest first."""
    query = select(CrawlRun).order_by(CrawlRun.started_at, CrawlRun.id)
    if since is not None:
        _require_aware(since, "since")
        query = query.where(CrawlRun.started_at >= since)
    return list(session.scalars(query))


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]
