"""Composing a digest from stored articles: stories, grouping, what a story shows, the cap, the summary.

Pure: articles are unsaved model objects, so no database is needed.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from digest_support import NOW, TOPICS, article, digest_config, seed
from fixture_web import SEED_CASES

from kuroshio.digest.compose import compose_digest
from kuroshio.digest.highlight import Segment
from kuroshio.storage.models import Article


def compose(articles: list[Article], **overrides: object):
    return compose_digest(digest_config(**overrides), articles, topic_names=[t.name for t in TOPICS],
                          problems_since=NOW - timedelta(days=1), now=NOW)


def newest_first(articles: list[Article]) -> list[Article]:
    return sorted(articles, key=lambda a: (a.published_at or a.first_seen_at, a.id), reverse=True)


def marked(segments: tuple[Segment, ...]) -> list[str]:
    return [segment.text for segment in segments if segment.marked]


def test_copies_with_the_same_body_or_a_near_identical_title_are_one_story_with_the_sources_listed() -> None:
    original = article("Taiwan's Ko calls for deeper cooperation with Japan", source="kyodo",
                       published_at=datetime(2025, 12, 1, 10, tzinfo=timezone.utc))
    same_title = article("Taiwan’s Ko calls for deeper cooperation with Japan", text="Ko said Taiwan and Japan ...",
                         source="taiwan-news", published_at=datetime(2025, 12, 1, 9, tzinfo=timezone.utc))
    near_title = article("Taiwan's Ko calls for deeper cooperation with Japan - Kyodo", text="Other text, Taiwan Japan.",
                         source="yahoo", published_at=datetime(2025, 12, 1, 8, tzinfo=timezone.utc))
    same_body = article("A different headline on Taiwan and Japan", text=original.text, source="mirror",
                        published_at=datetime(2025, 12, 1, 7, tzinfo=timezone.utc))
    other = article("Taiwan and Japan hold coast guard drill", text="Taiwan and Japan held a drill. Japan said so.",
                    source="kyodo", published_at=datetime(2025, 12, 1, 6, tzinfo=timezone.utc))

    content = compose([original, same_title, near_title, same_body, other])

    (group,) = [g for g in content.groups if g.topic == "taiwan-japan"]
    assert [story.source for story in group.stories] == ["kyodo", "kyodo"]
    first = group.stories[0]
    assert [copy.source for copy in first.copies] == ["taiwan-news", "yahoo", "mirror"]
    assert content.article_count == 5 and content.story_count == 2 and content.source_count == 4


def test_stories_are_grouped_under_their_best_topic_in_digest_order_newest_first() -> None:
    chips_older = article("Japan's chip subsidies reach Taiwan", "Semiconductor chip makers in Taiwan and Japan. "
                          "Chip chip chip semiconductor.", published_at=datetime(2025, 11, 30, tzinfo=timezone.utc))
    relations = article(published_at=datetime(2025, 12, 1, tzinfo=timezone.utc))
    chips_newer = article("Kumamoto chip plant expands", "The semiconductor plant in Kumamoto grows. Chip output "
                          "doubles.", published_at=datetime(2025, 12, 2, tzinfo=timezone.utc))

    content = compose(newest_first([chips_older, relations, chips_newer]),
                      topics=("taiwan-japan", "semiconductors"))

    assert [(group.topic, [story.article_id for story in group.stories]) for group in content.groups] == [
        ("taiwan-japan", [relations.id]),
        ("semiconductors", [chips_newer.id, chips_older.id]),
    ]
    assert content.groups[1].stories[1].other_topics == ("taiwan-japan",)


def test_a_story_shows_headline_link_source_time_in_the_digest_zone_excerpt_and_highlights() -> None:
    kyodo = seed("kyodo-ko")
    (story,) = compose([kyodo]).groups[0].stories
    assert "".join(segment.text for segment in story.title) == "Taiwan's Ko calls for deeper cooperation with Japan"
    assert marked(story.title) == ["Taiwan", "Japan"]
    assert story.url == "http://english.kyodonews.test/articles/-/38517"
    assert story.source == "kyodo"
    assert story.time == "2023-06-08 18:23" and story.time_is_published  # 19:23 in Tokyo is 18:23 in Taipei
    assert "Taipei" in marked(story.excerpt) and "Japan" in marked(story.excerpt)


def test_hostile_titles_lose_control_characters_and_are_cut_and_unsafe_links_are_dropped() -> None:
    hostile = article("Taiwan Japan\r\nBcc: victim@example.org\x1b[31m \u202eevil" + " long" * 3000,
                      url="javascript:alert(1)")
    (story,) = compose([hostile]).groups[0].stories
    title = "".join(segment.text for segment in story.title)
    assert "\r" not in title and "\n" not in title and "\x1b" not in title and "\u202e" not in title
    assert title.startswith("Taiwan Japan Bcc: victim@example.org [31m evil long")
    assert len(title) <= 300
    assert story.url is None


def test_the_cap_shows_the_newest_stories_and_counts_the_rest_as_not_shown() -> None:
    articles = newest_first([
        article(f"Taiwan and Japan story number {n}", f"Taiwan and Japan, item {n}. Japan and Taiwan again.",
                published_at=datetime(2025, 12, 1, tzinfo=timezone.utc) + timedelta(hours=n))
        for n in range(12)
    ])
    content = compose(articles, max_articles=5)
    assert content.story_count == 5
    assert content.not_shown == 7
    assert content.article_ids == tuple(a.id for a in articles)  # every owed article is delivered


def test_summary_counts_articles_sources_and_period_in_the_digest_zone() -> None:
    content = compose(newest_first([seed(case) for case in SEED_CASES]))
    assert content.article_count == 3 and content.source_count == 3
    assert (content.oldest, content.newest) == ("2023-06-08 18:23", "2025-12-02 20:18")
    assert content.generated_at.isoformat() == "2025-12-03T08:30:00+08:00"


def test_a_backlog_of_similar_headlines_keeps_each_report_a_story_and_caps_them() -> None:
    """Headlines that differ only in their numbers are separate stories, capped at `max_articles`. How
    long a 10,000-article backlog takes to compose is a figure of `benchmarks/reading.py`, not a test."""
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    backlog = [
        article(f"Taiwan and Japan report {n}: talks on item {n * 7919 % 10007}",
                f"Report {n} on Taiwan and Japan. Japan and Taiwan met.", published_at=start + timedelta(minutes=n))
        for n in range(1_000)
    ]
    content = compose(newest_first(backlog))
    assert content.story_count == 200 and content.not_shown == 800
