"""Digests and re-scoring (`kuroshio topics rematch`): nothing delivered is sent again, and old articles a
rematch newly matches are not owed once the digest has been sent (`kuroshio.storage.digests`)."""

from __future__ import annotations

from datetime import timedelta

from digest_support import NOW, SEEN_AT, TOPICS, SmtpServer
from sqlalchemy.orm import Session, sessionmaker

from kuroshio.crawler.topics import DEFAULT_TOPIC_QUERY, Topic
from kuroshio.scheduler.digests import send_due_digest
from kuroshio.scheduler.rematch import rematch
from kuroshio.storage.digests import owed_articles
from kuroshio.storage.models import ArticleTopic
from kuroshio.storage.records import ExtractedArticle

WEATHER = Topic.from_config("weather", "rain OR Osaka", 1)


def rescore(sessions: sessionmaker[Session], taiwan_japan_query: str, *extra: Topic, at=NOW) -> None:
    """Re-score the store with taiwan-japan defined by `taiwan_japan_query` (and `extra` topics) at `at`."""
    topics = [Topic.from_config("taiwan-japan", taiwan_japan_query, 2), TOPICS[1], *extra]
    rematch(sessions, topics, restart=[topic.name for topic in topics], clock=lambda: at)


def taiwan_japan_rows(sessions: sessionmaker[Session]) -> list[tuple[int, float]]:
    with sessions() as session:
        return sorted(session.query(ArticleTopic.article_id, ArticleTopic.score).filter_by(topic="taiwan-japan"))


def test_rescoring_never_sends_a_delivered_article_again(
    make_config, sessions, seeded: dict[str, int], smtp_server: SmtpServer
) -> None:
    config = make_config()
    assert send_due_digest(config, config.digests[0], sessions=sessions, now=NOW).articles_count == 3
    crawled = taiwan_japan_rows(sessions)

    rescore(sessions, "(Taiwan OR Taipei) AND Japan", at=NOW + timedelta(hours=1))  # other scores
    assert taiwan_japan_rows(sessions) != crawled
    rescore(sessions, "Taiwan AND Atlantis", at=NOW + timedelta(hours=2))  # removed
    assert taiwan_japan_rows(sessions) == []
    rescore(sessions, DEFAULT_TOPIC_QUERY, at=NOW + timedelta(hours=3))  # added again
    assert taiwan_japan_rows(sessions) == crawled

    again = send_due_digest(config, config.digests[0], sessions=sessions, now=NOW + timedelta(days=1))
    assert (again.status, again.articles_count) == ("empty", 0)
    assert len(smtp_server.envelopes) == 1


def test_old_articles_a_rematch_newly_matches_are_owed_only_by_a_digest_never_sent(
    make_config, sessions, seeded: dict[str, int], store, smtp_server: SmtpServer
) -> None:
    config = make_config()
    send_due_digest(config, config.digests[0], sessions=sessions, now=NOW)
    rain = "Rain fell in Osaka all day. More rain is due in Osaka tomorrow."
    old = store(ExtractedArticle(url="https://news.example/old-rain", canonical_url="https://news.example/old-rain",
                                 source="kyodo", title="Rain in Osaka", text=rain), now=SEEN_AT - timedelta(days=90))
    new = store(ExtractedArticle(url="https://news.example/new-rain", canonical_url="https://news.example/new-rain",
                                 source="kyodo", title="Rain again in Osaka", text=f"{rain} Still raining."),
                now=NOW + timedelta(hours=1))

    rescore(sessions, DEFAULT_TOPIC_QUERY, WEATHER, at=NOW + timedelta(hours=2))

    with sessions() as session:
        assert {row.article_id for row in session.query(ArticleTopic).filter_by(topic="weather")} == {old, new}
        # Seen after the last digest, the new one is what the next digest covers; the old one was past.
        assert [article.id for article in owed_articles(session, digest="morning")] == [new]
        # A digest never sent owes what the archive holds, rematched or not.
        assert {article.id for article in owed_articles(session, digest="evening")} == {*seeded.values(), old, new}
