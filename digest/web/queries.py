"""What the web view's pages read from the store, beyond the store's own listings and search.

Every function only reads. Listings page with OFFSET on the store's own newest-first order
(`kuroshio.storage.articles.newest_first`, on the `effective_date` index); a page is at most
`kuroshio.digest.web.app.PAGE_SIZE` rows.

- Other copies of a story: the digest's rule (`kuroshio.digest.stories.fold_copies`: the same body, or a
  near-identical title with the same numbers), looked for among the articles with the same body and
  those dated within `STORY_WINDOW` of it (at most `STORY_CANDIDATES`, those stored nearest to it), so an
  article page costs the same beside a thousand stored articles as beside a million.
- Source health: the rules `kuroshio status` applies that the store alone can tell (its last crawl
  failed; its last `STARVED_RUNS` runs came to nothing: `kuroshio.storage.runs.starved_sources`; never
  crawled). Whether a crawl is overdue depends on the daemon's schedule, which only `kuroshio status` knows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from kuroshio.digest.stories import fold_copies
from kuroshio.storage.articles import newest_first
from kuroshio.storage.models import Article, ArticleTopic, CrawlRun, DigestAttempt, DigestDelivery, effective_date
from kuroshio.storage.runs import STARVED_RUNS, last_runs, list_runs, starved_sources
from kuroshio.storage.sources import source_names as stored_source_names
from kuroshio.storage.text import one_line

STORY_WINDOW = timedelta(days=3)
STORY_CANDIDATES = 500
RECENT_RUNS = 10  # runs shown per source


@dataclass(frozen=True, slots=True)
class TopicSummary:
    """A topic on the front page: how many articles matched it and the newest one's date."""

    name: str
    configured: bool
    count: int
    newest: datetime | None


def topic_summaries(session: Session, configured: Sequence[str]) -> list[TopicSummary]:
    """Every configured topic (in config order), then the topics only the store still has matches of."""
    rows = session.execute(
        select(ArticleTopic.topic, func.count(), func.max(effective_date()))
        .join(Article, Article.id == ArticleTopic.article_id)
        .group_by(ArticleTopic.topic)
    ).all()
    stored = {topic: (count, newest) for topic, count, newest in rows}
    names = [*configured, *sorted(set(stored) - set(configured))]
    return [TopicSummary(name, name in configured, *stored.get(name, (0, None))) for name in names]


def relevant_articles(session: Session, *, topic: str | None, offset: int, limit: int) -> list[Article]:
    """Articles that matched `topic` (any topic when None), newest first, `limit` from `offset`."""
    condition = Article.topic_matches.any(ArticleTopic.topic == topic) if topic is not None \
        else Article.topic_matches.any()
    query = select(Article).where(condition).order_by(*newest_first()).offset(offset).limit(limit)
    return list(session.scalars(query))


def story_copies(session: Session, article: Article) -> list[Article]:
    """The other stored copies of `article`'s story (module docstring), newest first."""
    when = article.published_at or article.first_seen_at
    nearby = (
        select(Article)
        .where(Article.id != article.id,
               or_(Article.content_sha256 == article.content_sha256,
                   effective_date().between(when - STORY_WINDOW, when + STORY_WINDOW)))
        .order_by(func.abs(Article.id - article.id))  # the nearest stored first, when the window is crowded
        .limit(STORY_CANDIDATES)
    )
    candidates = sorted(session.scalars(nearby), key=lambda copy: (copy.published_at or copy.first_seen_at, copy.id),
                        reverse=True)
    stories = fold_copies([article, *candidates], shown_limit=1)
    return stories[0][1:]


@dataclass(frozen=True, slots=True)
class SourceHealth:
    """A source's recent crawls and what about them needs a look (empty when nothing does)."""

    name: str
    configured: bool
    runs: tuple[CrawlRun, ...]
    attention: tuple[str, ...]

    @property
    def last_run(self) -> CrawlRun | None:
        """The most recently started crawl, or None when it was never crawled."""
        return self.runs[0] if self.runs else None


def source_health(session: Session, configured: Sequence[str]) -> list[SourceHealth]:
    """Each configured source (in config order), then those only the store still has crawls of."""
    last = last_runs(session)
    starved = set(starved_sources(session))
    names = [*configured, *sorted(set(stored_source_names(session)) - set(configured))]
    health = []
    for name in names:
        run = last.get(name)
        attention = []
        if run is None:
            attention.append("never crawled")
        elif run.status == "failed":
            attention.append(f"its last crawl failed: {one_line(run.message or 'no reason recorded')}")
        if name in starved:
            attention.append(f"no new article in the last {STARVED_RUNS} runs (each failed or had only errors)")
        if run is None and name not in configured:
            continue  # a source known only by its articles (no crawl recorded, not configured): nothing to tell
        runs = tuple(list_runs(session, source=name, limit=RECENT_RUNS)) if run is not None else ()
        health.append(SourceHealth(name, name in configured, runs, tuple(attention)))
    return health


def count_digest_attempts(session: Session) -> int:
    """How many digest attempts the store records."""
    return session.scalar(select(func.count()).select_from(DigestAttempt)) or 0


def digest_attempts(session: Session, *, offset: int, limit: int) -> list[DigestAttempt]:
    """Digest attempts newest first, `limit` from `offset`."""
    query = select(DigestAttempt).order_by(DigestAttempt.started_at.desc(), DigestAttempt.id.desc())
    return list(session.scalars(query.offset(offset).limit(limit)))


def delivered_articles(session: Session, attempts: Sequence[DigestAttempt]) -> dict[int, list[Article]]:
    """The articles each accepted attempt delivered (by attempt id), newest first: the deliveries that
    carry its digest's name and its message id."""
    accepted = [attempt for attempt in attempts if attempt.status == "ok" and attempt.message_id]
    if not accepted:
        return {}
    rows = session.execute(
        select(DigestDelivery.digest, DigestDelivery.message_id, Article)
        .join(Article, Article.id == DigestDelivery.article_id)
        .where(DigestDelivery.message_id.in_([attempt.message_id for attempt in accepted]))
        .order_by(*newest_first())
    ).all()
    by_message: dict[tuple[str, str], list[Article]] = {}
    for digest, message_id, article in rows:
        by_message.setdefault((digest, message_id), []).append(article)
    return {attempt.id: by_message.get((attempt.digest, attempt.message_id or ""), []) for attempt in accepted}
