"""Which definition of each topic the stored matches reflect, and re-scoring the archive against a new one.

Topics are matched when an article is crawled; a topic added or edited later would leave the archive
scored by the old definition. So each topic's definition is fingerprinted (`definition_fingerprint`:
the query in a normal form and the min score) and recorded in `topic_definitions` when the archive is
re-scored against it. A configured topic is then `current` (the archive was re-scored against this very
definition), `changed` (against another one), `partly rematched` (a rematch of this definition stopped
part-way) or `never matched` (no rematch ever ran for it, as for every topic before migration 0008).

Re-scoring is done in batches of articles by id (`articles_after`, then `rescore_batch`): each batch
is one short transaction that replaces the batch's matches of the topics being re-scored — other
topics' rows are untouched — and advances the topics' progress mark, `rematched_through`, in the same
transaction. A rematch that is interrupted (Ctrl-C, a kill, a full disk) therefore resumes after the
last batch it committed, and nothing is matched twice or half. The matching itself is the caller's
(`kuroshio.scheduler.rematch`): the store does not know the query language's scoring.

A match a rematch finds is marked with `rematched_at`; one that keeps matching keeps its origin (only its
score and terms are updated), so a digest can tell an old article newly matched from a crawled one.
A topic removed from the configuration keeps its matches until `prune_topics` is asked for.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from kuroshio.storage.engine import write_transaction
from kuroshio.storage.models import Article, ArticleTopic, TopicDefinition
from kuroshio.storage.records import TopicMatch
from kuroshio.storage.timestamps import as_stored

STATES = ("current", "changed", "partly rematched", "never matched")


def definition_fingerprint(query: str, min_score: float) -> str:
    """sha256 of a topic's definition: its query after NFKC with white space runs folded to one space,
    and its min score; so re-indenting a query is no new definition, any other edit is."""
    normalised = " ".join(unicodedata.normalize("NFKC", query).split())
    return hashlib.sha256(f"{normalised}\n{float(min_score)!r}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class TopicState:
    """A configured topic beside what the store records of it: its state (one of `STATES`), how many
    articles match it, and the stored definition's progress (None when it has no row)."""

    name: str
    state: str
    matched: int
    stored: TopicDefinition | None


@dataclass(frozen=True, slots=True)
class ArticleText:
    """What a topic is matched on: an article's title and text, by id."""

    id: int
    title: str
    text: str


@dataclass(frozen=True, slots=True)
class RescoreCounts:
    """What re-scoring changed: matches added, removed, and kept with another score or other terms."""

    added: int = 0
    removed: int = 0
    changed: int = 0

    def __add__(self, other: RescoreCounts) -> RescoreCounts:
        return RescoreCounts(self.added + other.added, self.removed + other.removed, self.changed + other.changed)


def topic_states(session: Session, fingerprints: Mapping[str, str]) -> list[TopicState]:
    """The state of each configured topic (`fingerprints`: name → its configured fingerprint), in order."""
    stored = {row.name: row for row in session.scalars(select(TopicDefinition))}
    matched = matched_counts(session)
    states = []
    for name, fingerprint in fingerprints.items():
        row = stored.get(name)
        if row is None:
            state = "never matched"
        elif row.fingerprint != fingerprint:
            state = "changed"
        elif row.matched_at is None:
            state = "partly rematched"
        else:
            state = "current"
        states.append(TopicState(name=name, state=state, matched=matched.get(name, 0), stored=row))
    return states


def matched_counts(session: Session) -> dict[str, int]:
    """How many articles match each topic with stored matches, configured or not."""
    rows = session.execute(select(ArticleTopic.topic, func.count()).group_by(ArticleTopic.topic))
    return {topic: count for topic, count in rows}


def start_rematch(session: Session, name: str, fingerprint: str, *, restart: bool = False, now: datetime) -> int:
    """Record that topic `name` is being re-scored against the definition `fingerprint`; the id of the last
    article already re-scored against it, after which to go on (0: from the first article).

    A rematch of the same definition that stopped part-way is resumed; one that finished is done again
    only when `restart` (the matcher itself may have changed); a new definition starts over.
    """
    with write_transaction(session):
        row = session.get(TopicDefinition, name)
        if row is None:
            row = TopicDefinition(name=name, fingerprint=fingerprint)
            session.add(row)
        elif row.fingerprint == fingerprint and (row.matched_at is None or not restart):
            return row.rematched_through
        row.fingerprint = fingerprint
        row.rematch_started_at = as_stored(now)
        row.rematched_through = 0
        row.matched_at = None
        row.added = row.removed = row.changed = 0
        return 0


def articles_after(session: Session, after_id: int, *, limit: int) -> list[ArticleText]:
    """The next `limit` articles by id after `after_id`, with what a topic is matched on."""
    rows = session.execute(select(Article.id, Article.title, Article.text).where(Article.id > after_id)
                           .order_by(Article.id).limit(limit))
    return [ArticleText(id=article_id, title=title, text=text) for article_id, title, text in rows]


def count_articles_after(session: Session, after_id: int) -> int:
    """How many articles there are after id `after_id` (what a rematch from there has left to do)."""
    return session.scalar(select(func.count()).select_from(Article).where(Article.id > after_id)) or 0


def rescore_batch(
    session: Session, *, topics: Sequence[str], article_ids: Sequence[int],
    matches: Mapping[int, Sequence[TopicMatch]], now: datetime,
) -> RescoreCounts:
    """Replace the matches of `topics` for the articles `article_ids` by `matches` (article id → the
    matches of those topics the article has now), and advance the topics' progress to the batch's last
    article, in one transaction. Other topics' matches are not touched.

    A match that still holds keeps its row (score and terms updated); a new one is marked found by a
    rematch at `now`. Each topic's progress only moves forward, and its counts add what changed.
    """
    if not article_ids:
        return RescoreCounts()
    rematched_at = as_stored(now)
    wanted = {(article_id, match.topic): match for article_id in article_ids
              for match in matches.get(article_id, ()) if match.topic in topics}
    per_topic: dict[str, RescoreCounts] = {topic: RescoreCounts() for topic in topics}
    with write_transaction(session):
        stored = session.scalars(select(ArticleTopic).where(ArticleTopic.topic.in_(list(topics)),
                                                            ArticleTopic.article_id.in_(list(article_ids))))
        existing = {(row.article_id, row.topic): row for row in stored}
        gone = [key for key in existing if key not in wanted]
        for topic in topics:
            gone_ids = [article_id for article_id, gone_topic in gone if gone_topic == topic]
            if gone_ids:
                session.execute(delete(ArticleTopic).where(ArticleTopic.topic == topic,
                                                           ArticleTopic.article_id.in_(gone_ids)))
                per_topic[topic] += RescoreCounts(removed=len(gone_ids))
        for key, match in wanted.items():
            kept = existing.get(key)
            if kept is None:
                session.add(ArticleTopic(article_id=key[0], topic=match.topic, score=match.score,
                                         terms=list(match.terms), rematched_at=rematched_at))
                per_topic[match.topic] += RescoreCounts(added=1)
            elif kept.score != match.score or list(kept.terms) != list(match.terms):
                kept.score, kept.terms = match.score, list(match.terms)
                per_topic[match.topic] += RescoreCounts(changed=1)
        session.flush()
        through = max(article_ids)
        for definition in session.scalars(select(TopicDefinition).where(TopicDefinition.name.in_(list(topics)))):
            counts = per_topic[definition.name]
            definition.rematched_through = max(definition.rematched_through, through)
            definition.added += counts.added
            definition.removed += counts.removed
            definition.changed += counts.changed
    return sum(per_topic.values(), RescoreCounts())


def finish_rematch(session: Session, names: Iterable[str], *, now: datetime) -> list[TopicDefinition]:
    """Record that the archive is re-scored against the current definitions of topics `names`; their rows."""
    with write_transaction(session):
        rows = list(session.scalars(select(TopicDefinition).where(TopicDefinition.name.in_(list(names)))))
        for row in rows:
            row.matched_at = as_stored(now)
        return rows


def stale_topics(session: Session, configured: Iterable[str]) -> dict[str, int]:
    """Topics with stored matches or a stored definition that are not `configured`, with their match counts."""
    configured = set(configured)
    counts = {topic: count for topic, count in matched_counts(session).items() if topic not in configured}
    for name in session.scalars(select(TopicDefinition.name)):
        if name not in configured:
            counts.setdefault(name, 0)
    return dict(sorted(counts.items()))


def prune_topics(session: Session, names: Iterable[str]) -> int:
    """Delete every match and the stored definition of topics `names` (no longer configured); matches deleted."""
    names = list(names)
    if not names:
        return 0
    with write_transaction(session):
        deleted = session.scalar(select(func.count()).select_from(ArticleTopic).where(ArticleTopic.topic.in_(names)))
        session.execute(delete(ArticleTopic).where(ArticleTopic.topic.in_(names)))
        session.execute(delete(TopicDefinition).where(TopicDefinition.name.in_(names)))
    return deleted or 0
