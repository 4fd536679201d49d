"""What goes into a digest: the owed articles, folded into stories, grouped by topic, excerpted and
highlighted, as the `DigestContent` the templates read.

`compose_owed()` reads the store (owed articles, the last digest sent, recent crawl runs) and hands
them to `compose_digest()`, which is pure: stored articles in, a `DigestContent` for the templates out.

- Owed: relevant articles (matching one of the digest's topics, any topic when it names none) that
  no digest of that name has delivered yet; `--since` narrows them by date.
- Stories: copies of one story (`stories.py` says which) are shown once, the newest copy with the other
  sources listed under it.
- Grouping: each story sits under the digest topic it matched best (topics in the digest's order),
  newest first. Only the first `digests[].max_articles` stories are shown; the rest are counted.
- A story shows its title as one line of at most `MAX_TITLE_CHARS`, its link only when it is plain
  http(s), its time in the digest's time zone, its excerpt (`excerpts.py`) and, in title and excerpt,
  the topic terms it matched (`highlight.py`).
- The footer names the sources whose crawls need a look (`health.py`).

Settings: `digests[].topics`, `digests[].timezone`, `digests[].max_articles`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from kuroshio.digest.excerpts import clean_line, excerpt
from kuroshio.digest.health import FIRST_DIGEST_LOOKBACK, SourceProblem, source_problems
from kuroshio.digest.highlight import Segment, highlight, term_patterns
from kuroshio.digest.options import DigestConfig
from kuroshio.digest.stories import fold_copies
from kuroshio.storage.digests import last_digest_sent_at, owed_articles
from kuroshio.storage.models import Article
from kuroshio.storage.runs import runs_started_since
from kuroshio.storage.text import INVISIBLE

MAX_TITLE_CHARS = 300
TIME_FORMAT = "%Y-%m-%d %H:%M"


@dataclass(frozen=True, slots=True)
class Copy:
    """Another source's copy of a story."""

    source: str
    title: str
    url: str | None


@dataclass(frozen=True, slots=True)
class Story:
    """One story as shown: its newest copy, with the other copies listed."""

    article_id: int
    title: tuple[Segment, ...]
    url: str | None
    source: str
    time: str
    time_is_published: bool
    excerpt: tuple[Segment, ...]
    terms: tuple[str, ...]
    copies: tuple[Copy, ...]
    other_topics: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TopicGroup:
    """The stories shown under one topic, newest first."""

    topic: str
    stories: tuple[Story, ...]


@dataclass(frozen=True)
class DigestContent:
    """Everything the templates show, plus the ids of every article the digest delivers."""

    name: str
    topics: tuple[str, ...]
    timezone: str
    generated_at: datetime
    groups: tuple[TopicGroup, ...]
    article_ids: tuple[int, ...]
    source_count: int
    oldest: str | None
    newest: str | None
    last_sent_at: str | None
    not_shown: int
    problems: tuple[SourceProblem, ...]
    problems_since: str
    instant: bool = False
    """An instant alert's one story (`mode = "instant"`): no digest came before it to speak of."""

    @property
    def article_count(self) -> int:
        """Articles the digest delivers, shown or counted in the closing line."""
        return len(self.article_ids)

    @property
    def story_count(self) -> int:
        """Stories shown."""
        return sum(len(group.stories) for group in self.groups)


def compose_owed(
    session: Session, digest: DigestConfig, *, source_names: Sequence[str], topic_names: Sequence[str],
    since: datetime | None = None, now: datetime | None = None,
) -> DigestContent:
    """The digest of everything owed to `digest` now (read from the store; writes nothing).

    `source_names` are the configured sources whose health the footer reports; `topic_names` every
    configured topic, in order (the digest's own topics, when it names some, come first).
    """
    now = now or datetime.now(timezone.utc)
    articles = owed_articles(session, digest=digest.name, topics=digest.topics, since=since)
    last_sent_at = last_digest_sent_at(session, digest.name)
    window_start = last_sent_at or now - FIRST_DIGEST_LOOKBACK
    problems = source_problems(source_names, runs_started_since(session, window_start))
    return compose_digest(
        digest, articles, topic_names=digest.topics or tuple(topic_names),
        problems=problems, last_sent_at=last_sent_at, problems_since=window_start, now=now,
    )


def compose_digest(
    digest: DigestConfig,
    articles: Sequence[Article],
    *,
    topic_names: Sequence[str],
    problems: Sequence[SourceProblem] = (),
    last_sent_at: datetime | None = None,
    problems_since: datetime,
    now: datetime,
) -> DigestContent:
    """Fold `articles` (the owed ones) into stories, group them by topic, newest first, and cap them."""
    zone = ZoneInfo(digest.timezone)
    articles = sorted(articles, key=lambda article: (_effective_date(article), article.id), reverse=True)
    stories = fold_copies(articles, shown_limit=digest.max_articles)
    shown = stories[: digest.max_articles]
    wanted_topics = set(digest.topics)
    by_topic: dict[str, list[Story]] = defaultdict(list)
    for copies in shown:
        topic, story = _story(copies, wanted_topics=wanted_topics, topic_order=topic_names, zone=zone)
        by_topic[topic].append(story)
    order = [name for name in topic_names if name in by_topic] + sorted(set(by_topic) - set(topic_names))
    dates = [_effective_date(article) for article in articles]
    return DigestContent(
        name=digest.name,
        topics=tuple(topic_names),
        timezone=digest.timezone,
        generated_at=now.astimezone(zone),
        groups=tuple(TopicGroup(topic, tuple(by_topic[topic])) for topic in order),
        article_ids=tuple(article.id for article in articles),
        source_count=len({article.source.name for article in articles}),
        oldest=_format_time(min(dates), zone) if dates else None,
        newest=_format_time(max(dates), zone) if dates else None,
        last_sent_at=_format_time(last_sent_at, zone) if last_sent_at else None,
        not_shown=len(articles) - sum(len(copies) for copies in shown),
        problems=tuple(problems),
        problems_since=_format_time(problems_since, zone),
        instant=digest.mode == "instant",
    )


def _story(
    copies: Sequence[Article], *, wanted_topics: set[str], topic_order: Sequence[str], zone: ZoneInfo
) -> tuple[str, Story]:
    """The topic a story is shown under, and the story."""
    lead = copies[0]
    matches = [match for match in lead.topic_matches if not wanted_topics or match.topic in wanted_topics]
    rank = {name: position for position, name in enumerate(topic_order)}
    matches.sort(key=lambda match: (-match.score, rank.get(match.topic, len(rank)), match.topic))
    topic = matches[0].topic if matches else "other"
    terms = tuple(dict.fromkeys(term for match in matches for term in match.terms))
    patterns = term_patterns(terms)
    published = lead.published_at is not None
    story = Story(
        article_id=lead.id,
        title=highlight(clean_line(lead.title, MAX_TITLE_CHARS), patterns),
        url=safe_url(lead.url),
        source=lead.source.name,
        time=_format_time(_effective_date(lead), zone),
        time_is_published=published,
        excerpt=highlight(excerpt(lead.text), patterns),
        terms=terms,
        copies=tuple(
            Copy(source=copy.source.name, title=clean_line(copy.title, MAX_TITLE_CHARS), url=safe_url(copy.url))
            for copy in copies[1:]
        ),
        other_topics=tuple(match.topic for match in matches[1:]),
    )
    return topic, story


def safe_url(url: str) -> str | None:
    """`url` when it is a plain http(s) link, else None (no javascript:, data: or odd schemes in a mail)."""
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.netloc and not INVISIBLE.search(url) and " " not in url:
        return url
    return None


def _effective_date(article: Article) -> datetime:
    return article.published_at or article.first_seen_at


def _format_time(value: datetime, zone: ZoneInfo) -> str:
    return value.astimezone(zone).strftime(TIME_FORMAT)
