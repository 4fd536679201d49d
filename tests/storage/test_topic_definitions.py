"""Topic definitions and re-scoring stored matches batch by batch (`kuroshio.storage.topic_definitions`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kuroshio.storage.articles import store_article
from kuroshio.storage.models import ArticleTopic, TopicDefinition
from kuroshio.storage.records import ExtractedArticle, TopicMatch
from kuroshio.storage.topic_definitions import (
    RescoreCounts,
    articles_after,
    count_articles_after,
    definition_fingerprint,
    finish_rematch,
    prune_topics,
    rescore_batch,
    stale_topics,
    start_rematch,
    topic_states,
)

CRAWLED_AT = datetime(2025, 11, 1, tzinfo=timezone.utc)
REMATCHED_AT = datetime(2025, 12, 1, tzinfo=timezone.utc)
OLD = definition_fingerprint("Taiwan AND Japan", 2)
NEW = definition_fingerprint("(Taiwan OR Taipei) AND Japan", 2)


def match(topic: str, score: float, *terms: str) -> TopicMatch:
    return TopicMatch(topic=topic, score=score, terms=terms)


@pytest.fixture
def stored(session: Session, make_article: Callable[..., ExtractedArticle]) -> list[int]:
    """Four articles as a crawl stored them: 1 and 2 matched taiwan-japan, 1 and 3 matched chips."""
    crawl_matches = [[match("taiwan-japan", 2.0, "Japan", "Taiwan"), match("chips", 3.0, "chip*")],
                     [match("taiwan-japan", 1.0, "Taiwan")], [match("chips", 1.0, "chip*")], []]
    return [store_article(session, make_article(), matches=matches, crawl_run_id=None, now=CRAWLED_AT).article_id
            for matches in crawl_matches]


def rows(session: Session) -> set[tuple[int, str, float, tuple[str, ...], datetime | None]]:
    session.expire_all()
    return {(row.article_id, row.topic, row.score, tuple(row.terms), row.rematched_at)
            for row in session.scalars(select(ArticleTopic))}


def test_fingerprint_ignores_spacing_and_sees_every_other_edit() -> None:
    assert definition_fingerprint("Taiwan  AND\n Japan", 2) == OLD
    assert definition_fingerprint("Taiwan AND Japan", 2.0) == OLD
    assert definition_fingerprint("Taiwan AND Japan", 3) != OLD
    assert definition_fingerprint("Taiwan AND Japanese", 2) != OLD
    assert len({OLD, NEW}) == 2 and len(OLD) == 64


def test_a_topic_is_never_matched_then_partly_rematched_then_current_then_changed(session: Session) -> None:
    def state() -> str:
        return topic_states(session, {"taiwan-japan": OLD})[0].state

    assert state() == "never matched"
    assert start_rematch(session, "taiwan-japan", OLD, now=REMATCHED_AT) == 0
    assert state() == "partly rematched"
    finish_rematch(session, ["taiwan-japan"], now=REMATCHED_AT)
    assert state() == "current"
    assert topic_states(session, {"taiwan-japan": NEW})[0].state == "changed"


def test_a_batch_replaces_only_the_rematched_topics_matches_and_advances_its_progress(
    session: Session, stored: list[int]
) -> None:
    first, second, third, fourth = stored
    start_rematch(session, "taiwan-japan", NEW, now=REMATCHED_AT)
    counts = rescore_batch(
        session, topics=["taiwan-japan"], article_ids=[first, second, third], now=REMATCHED_AT,
        # first: a new score; second: no longer matches; third: newly matches (chips is not being rematched)
        matches={first: [match("taiwan-japan", 3.0, "Japan", "Taipei", "Taiwan"), match("chips", 9.0, "x")],
                 third: [match("taiwan-japan", 2.0, "Japan", "Taipei")]},
    )
    assert counts == RescoreCounts(added=1, removed=1, changed=1)
    assert rows(session) == {
        (first, "taiwan-japan", 3.0, ("Japan", "Taipei", "Taiwan"), None),  # still the crawl's match
        (first, "chips", 3.0, ("chip*",), None),
        (third, "chips", 1.0, ("chip*",), None),
        (third, "taiwan-japan", 2.0, ("Japan", "Taipei"), REMATCHED_AT),
    }
    definition = session.get(TopicDefinition, "taiwan-japan")
    assert (definition.rematched_through, definition.added, definition.removed, definition.changed) == (third, 1, 1, 1)
    assert [article.id for article in articles_after(session, third, limit=10)] == [fourth]
    assert count_articles_after(session, first) == 3


def test_a_batch_that_fails_writes_nothing_and_keeps_the_progress(session: Session, stored: list[int]) -> None:
    first, second, *_ = stored
    start_rematch(session, "taiwan-japan", NEW, now=REMATCHED_AT)
    rescore_batch(session, topics=["taiwan-japan"], article_ids=[first], now=REMATCHED_AT,
                  matches={first: [match("taiwan-japan", 5.0, "Taiwan")]})
    before = rows(session)
    with pytest.raises(IntegrityError):  # a match of an article that is not stored: the insert fails
        rescore_batch(session, topics=["taiwan-japan"], article_ids=[second, 999_999], now=REMATCHED_AT,
                      matches={second: [], 999_999: [match("taiwan-japan", 1.0, "Taiwan")]})
    session.rollback()
    assert rows(session) == before
    assert session.get(TopicDefinition, "taiwan-japan").rematched_through == first


def test_an_interrupted_rematch_resumes_a_finished_one_restarts_only_when_asked_a_new_definition_starts_over(
    session: Session, stored: list[int]
) -> None:
    start_rematch(session, "taiwan-japan", NEW, now=REMATCHED_AT)
    rescore_batch(session, topics=["taiwan-japan"], article_ids=stored[:2], matches={}, now=REMATCHED_AT)
    assert start_rematch(session, "taiwan-japan", NEW, now=REMATCHED_AT) == stored[1]
    assert start_rematch(session, "taiwan-japan", NEW, restart=True, now=REMATCHED_AT) == stored[1]
    finish_rematch(session, ["taiwan-japan"], now=REMATCHED_AT)
    assert start_rematch(session, "taiwan-japan", NEW, now=REMATCHED_AT) == stored[1]  # current: nothing to do
    assert start_rematch(session, "taiwan-japan", NEW, restart=True, now=REMATCHED_AT) == 0
    rescore_batch(session, topics=["taiwan-japan"], article_ids=stored[:1], matches={}, now=REMATCHED_AT)
    assert start_rematch(session, "taiwan-japan", OLD, now=REMATCHED_AT + timedelta(hours=1)) == 0
    definition = session.get(TopicDefinition, "taiwan-japan")
    assert (definition.fingerprint, definition.added, definition.removed, definition.changed) == (OLD, 0, 0, 0)


def test_a_topic_no_longer_configured_keeps_its_matches_until_pruned(session: Session, stored: list[int]) -> None:
    start_rematch(session, "gone", OLD, now=REMATCHED_AT)
    assert stale_topics(session, ["taiwan-japan"]) == {"chips": 2, "gone": 0}
    assert prune_topics(session, ["chips", "gone"]) == 2
    assert {topic for _, topic, *_ in rows(session)} == {"taiwan-japan"}
    assert stale_topics(session, ["taiwan-japan"]) == {}
