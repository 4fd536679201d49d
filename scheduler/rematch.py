"""Re-scoring the stored archive against the configured topics: `kuroshio topics rematch`, and the daemon.

A topic is matched when its articles are crawled; this brings the archive in line with a topic added or
edited since (`kuroshio.storage.topic_definitions` says which topics need it and keeps the progress).
Articles are read by id in batches of `batch_size`; each batch is scored with the crawler's own
`match_topics` and written in one short transaction with the topics' progress, so an interrupted rematch
resumes after its last batch. The rematch holds the lease `rematch:<topic>` of each topic it re-scores
(`kuroshio.scheduler.locks`): two rematches of one topic never run at once, whoever starts them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Sequence
from datetime import datetime, timezone

from sqlalchemy.orm import Session, sessionmaker

from kuroshio.crawler.topics import MATCHER_VERSION, Topic, match_topics
from kuroshio.scheduler.locks import LeaseKeeper
from kuroshio.storage.models import TopicDefinition
from kuroshio.storage.topic_definitions import (
    TopicState,
    articles_after,
    count_articles_after,
    definition_fingerprint,
    finish_rematch,
    rescore_batch,
    start_rematch,
    topic_states,
)

DEFAULT_BATCH_SIZE = 500
# Renewed every third of this while a rematch runs; a killed rematch's lease expires after it.
REMATCH_LEASE_TTL = 60.0

Clock = Callable[[], datetime]
Progress = Callable[[int, int], None]  # articles done, articles in all


class LeaseLost(Exception):
    """A rematch's lease was taken over (it could not renew it in time): it stopped after its last batch."""


def rematch_lease(topic: str) -> str:
    """The lease name that guards re-scoring `topic`."""
    return f"rematch:{topic}"


def topic_fingerprint(topic: Topic) -> str:
    """The fingerprint of what decides a topic's matches: its parsed query with every term an `@Country`
    expands to (so spacing, redundant parentheses and an implicit AND make no new definition, while a
    new gazetteer does), its min score, and the matcher's version (`MATCHER_VERSION`), so an archive
    scored by an older way of finding terms is re-scored too; and its scorer's weights, by their digest,
    so a retrained scorer re-scores it as well. A topic without a scorer keeps the fingerprint it had."""
    scorer = topic.second_stage
    learned = f"\nscorer {scorer.digest}" if scorer is not None else ""
    return definition_fingerprint(f"{MATCHER_VERSION}\n{topic.query!r}{learned}", topic.min_score)


def states_of(session: Session, topics: Sequence[Topic]) -> list[TopicState]:
    """Each configured topic's state (current, changed, partly rematched, never matched), in order."""
    return topic_states(session, {topic.name: topic_fingerprint(topic) for topic in topics})


def topics_to_rematch(session: Session, topics: Sequence[Topic]) -> list[Topic]:
    """The configured topics whose stored matches do not reflect their current definition."""
    stale = {state.name for state in states_of(session, topics) if state.state != "current"}
    return [topic for topic in topics if topic.name in stale]


def rematch(
    sessions: sessionmaker[Session],
    topics: Sequence[Topic],
    *,
    restart: Collection[str] = (),
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Progress | None = None,
    clock: Clock | None = None,
) -> list[TopicDefinition]:
    """Re-score every stored article against `topics`, holding their leases; their stored definitions after.

    Each topic resumes where a rematch of its current definition stopped, or starts over for a new
    definition — or, named in `restart`, when its definition was already matched in full. `progress`
    is called before the first batch and after each. Raises `kuroshio.scheduler.locks.LeaseHeld` when
    another live process re-scores one of the topics.
    """
    clock = clock or (lambda: datetime.now(timezone.utc))
    names = [topic.name for topic in topics]
    lost = threading.Event()
    keeper = LeaseKeeper(sessions, [rematch_lease(name) for name in names], ttl=REMATCH_LEASE_TTL,
                         on_lost=lambda name: lost.set())
    with keeper, sessions() as session:
        marks = [start_rematch(session, topic.name, topic_fingerprint(topic), restart=topic.name in restart,
                               now=clock()) for topic in topics]
        # From the topic furthest behind: the others' articles up to there come out as they are.
        position = min(marks, default=0)
        done, total = 0, count_articles_after(session, position)
        if progress:
            progress(done, total)
        while batch := articles_after(session, position, limit=batch_size):
            if lost.is_set():
                raise LeaseLost(f"lost the lease of a topic being rematched after article {position}: stopped")
            matches = {article.id: match_topics(topics, title=article.title, text=article.text)
                       for article in batch}
            rescore_batch(session, topics=names, article_ids=[article.id for article in batch], matches=matches,
                          now=clock())
            position = batch[-1].id
            done += len(batch)
            if progress:
                progress(done, max(total, done))  # articles stored meanwhile are re-scored too
        finished = {row.name: row for row in finish_rematch(session, names, now=clock())}
        return [finished[name] for name in names]
