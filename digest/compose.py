"""What goes into a digest: the owed articles, folded into stories, grouped by topic, excerpted and
highlighted.

`compose_owed()` reads the store (owed articles, the last digest sent, recent crawl runs) and hands
them to `compose_digest()`, which is pure: stored articles in, a `DigestContent` for the templates out.

- Owed: relevant articles (matching one of the digest's topics, any topic when it names none) that
  no digest of that name has delivered yet; `--since` narrows them by date.
- Stories: copies of one story are shown once, with the other sources listed under it. Copies are
  articles with the same body (`content_sha256`) or a near-identical title: the same words after
  normalisation, or the same numbers and a character-trigram overlap of `NEAR_TITLE_SIMILARITY`.
- Grouping: each story sits under the digest topic it matched best (topics in the digest's order),
  newest first. Only the first `digests[].max_articles` stories are shown; the rest are counted.
- Excerpt: the first two or three sentences of the clean text, at most `EXCERPT_MAX_CHARS`.
- Highlight: the topic terms the article matched, found the way topic matching finds them
  (case-, width- and CJK-variant-insensitive), marked in title and excerpt.
- Source health (the footer): every configured source whose crawls failed, found no new article,
  or did not run since the last digest sent (the last `FIRST_DIGEST_LOOKBACK` before the first).

Settings: `digests[].topics`, `digests[].timezone`, `digests[].max_articles`.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from kuroshio.storage.text import INVISIBLE, normalize, one_line, words_pattern
from kuroshio.digest.options import DigestConfig
from kuroshio.storage.models import Article, CrawlRun
from kuroshio.storage.digests import last_digest_sent_at, owed_articles
from kuroshio.storage.runs import runs_started_since

EXCERPT_MAX_CHARS = 480
EXCERPT_SHORT_CHARS = 200  # two sentences shorter than this together get a third
MAX_TITLE_CHARS = 300
MAX_PROBLEM_CHARS = 200
NEAR_TITLE_SIMILARITY = 0.8
MIN_TITLE_KEY_CHARS = 12  # shorter titles ("Editorial", "News in brief") fold nothing
FIRST_DIGEST_LOOKBACK = timedelta(days=1)
TIME_FORMAT = "%Y-%m-%d %H:%M"

_WORD = re.compile(r"[^\W_]+")
_DIGITS = re.compile(r"\d+")
_ASCII_RUN = re.compile("[\x00-\x7f]+")
_LATIN_WORD_TAIL = "[a-z0-9\u00df-\u024f]*"  # the rest of a casefolded Latin word
# End of a sentence: .!? and any closing quotes or brackets, then space; or a CJK full stop.
_SENTENCE_END = re.compile(r"[.!?][\"'\u201d\u2019)\]]*\s+|[\u3002\uff01\uff1f][\u300d\u300f\u201d\u2019]*\s*")
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof st no gen sen rep gov lt col capt sgt jr sr inc co corp ltd vs etc approx est fig"
    " jan feb mar apr jun jul aug sep sept oct nov dec".split()
)


@dataclass(frozen=True, slots=True)
class Segment:
    """A run of text, `marked` when it is a matched topic term."""

    text: str
    marked: bool = False


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


@dataclass(frozen=True, slots=True)
class SourceProblem:
    """A source whose crawls need a look, and why."""

    source: str
    problem: str


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
    )


# --- stories -------------------------------------------------------------------------------------


def fold_copies(articles: Sequence[Article], *, shown_limit: int) -> list[list[Article]]:
    """Group copies of one story, keeping the input order (each story led by its first article).

    Same body or same title words fold across the whole list; near-identical titles are compared
    with the first `shown_limit` stories only, the ones a reader will see (it keeps a huge backlog fast).
    """
    stories: list[list[Article]] = []
    by_body: dict[str, int] = {}
    by_title: dict[str, int] = {}
    near_titles = _NearTitles()
    for article in articles:
        body_key = article.content_sha256 if article.text.strip() else None
        title_key = _title_key(article.title)
        position = by_body.get(body_key) if body_key else None
        if position is None and title_key:
            position = by_title.get(title_key)
            if position is None:
                position = near_titles.find(title_key)
        if position is None:
            position = len(stories)
            stories.append([])
            if title_key and position < shown_limit:
                near_titles.add(position, title_key)
        stories[position].append(article)
        if body_key:
            by_body.setdefault(body_key, position)
        if title_key:
            by_title.setdefault(title_key, position)
    return stories


def _title_key(title: str) -> str | None:
    """The title's words, normalised as topic matching does; None when too short to identify a story."""
    key = " ".join(_WORD.findall(normalize(title)))
    return key if len(key) >= MIN_TITLE_KEY_CHARS else None


class _NearTitles:
    """Titles indexed by character trigram, to find one whose trigrams overlap a new title's by at
    least NEAR_TITLE_SIMILARITY (Jaccard) and which carries the same numbers: "Typhoon update 3" and
    "Typhoon update 4" are different stories, however alike they look."""

    def __init__(self) -> None:
        self.index: dict[str, list[int]] = defaultdict(list)
        self.trigrams: dict[int, set[str]] = {}
        self.numbers: dict[int, list[str]] = {}

    def add(self, position: int, key: str) -> None:
        trigrams = _trigrams(key)
        self.trigrams[position] = trigrams
        self.numbers[position] = _DIGITS.findall(key)
        for trigram in trigrams:
            self.index[trigram].append(position)

    def find(self, key: str) -> int | None:
        """The first indexed title near `key`, or None.

        Prefix filter: a near title shares at least ⌈NEAR_TITLE_SIMILARITY · n⌉ of the key's n trigrams
        (Jaccard is at most shared / n), hence one of any n − ⌈NEAR_TITLE_SIMILARITY · n⌉ + 1 of them; only
        that many are looked up, the rarest (a trigram no title has costs nothing), and the candidates
        they name get their overlap counted exactly.
        """
        trigrams = _trigrams(key)
        if not trigrams:
            return None
        numbers = _DIGITS.findall(key)
        by_rarity = sorted(trigrams, key=lambda trigram: len(self.index.get(trigram, ())))
        probes = by_rarity[: len(trigrams) - math.ceil(NEAR_TITLE_SIMILARITY * len(trigrams)) + 1]
        candidates = {position for trigram in probes for position in self.index.get(trigram, ())}
        for position in sorted(candidates):
            common = len(trigrams & self.trigrams[position])
            similarity = common / (len(trigrams) + len(self.trigrams[position]) - common)
            if similarity >= NEAR_TITLE_SIMILARITY and self.numbers[position] == numbers:
                return position
        return None


def _trigrams(key: str) -> set[str]:
    return {key[index : index + 3] for index in range(len(key) - 2)}


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


# --- text ----------------------------------------------------------------------------------------


def clean_line(text: str, limit: int) -> str:
    """`text` as one line: control and invisible formatting characters dropped, white space folded,
    cut to `limit` characters at a word boundary."""
    return shorten(one_line(text), limit)


def shorten(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, at a word boundary when there is one, with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:") + "\u2026"


def excerpt(text: str) -> str:
    """The first two or three sentences of `text` (a third when the first two are short), at most
    EXCERPT_MAX_CHARS; a longer run is cut at a word boundary with an ellipsis."""
    sentences: list[str] = []
    for paragraph in text.split("\n"):
        paragraph = clean_line(paragraph, len(paragraph) + 1)
        sentences.extend(split_sentences(paragraph))
        if len(sentences) >= 3:
            break
    chosen: list[str] = []
    for sentence in sentences:
        if len(chosen) == 3 or (len(chosen) == 2 and len(" ".join(chosen)) >= EXCERPT_SHORT_CHARS):
            break
        if chosen and len(" ".join([*chosen, sentence])) > EXCERPT_MAX_CHARS:
            break
        chosen.append(sentence)
    return shorten(" ".join(chosen), EXCERPT_MAX_CHARS)


def split_sentences(paragraph: str) -> list[str]:
    """Sentences of one paragraph. Abbreviations (Mr., Jan., U.S.) and a lower-case continuation do not
    end a sentence; CJK full stops do, with or without a following space."""
    sentences: list[str] = []
    start = 0
    for boundary in _SENTENCE_END.finditer(paragraph):
        following = paragraph[boundary.end() : boundary.end() + 1]
        if following.islower():
            continue
        if boundary.group()[0] == "." and _is_abbreviation(paragraph[start : boundary.start()]):
            continue
        sentence = paragraph[start : boundary.end()].strip()
        if sentence:
            sentences.append(sentence)
        start = boundary.end()
    tail = paragraph[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences


def _is_abbreviation(before_period: str) -> bool:
    words = before_period.split()
    if not words:
        return False
    word = words[-1].lstrip("\"'(\u201c\u2018[")
    return word.lower().rstrip(".") in _ABBREVIATIONS or re.fullmatch(r"(?:[A-Za-z]\.)*[A-Za-z]", word) is not None


def term_patterns(terms: Iterable[str]) -> list[re.Pattern[str]]:
    """The patterns topic matching used for `terms` as stored (`Taiwan`, `Japan*`, `"Taiwan Strait"`)."""
    patterns = []
    for written in terms:
        if len(written) > 2 and written.startswith('"') and written.endswith('"'):
            patterns.append(words_pattern(normalize(written[1:-1]).split(), prefix=False))
        elif written.endswith("*") and len(written) > 1:
            # Mark the whole word a prefix matched ("Japanese" for Japan*), not just the prefix.
            prefix = words_pattern([normalize(written[:-1])], prefix=True)
            patterns.append(re.compile(prefix.pattern + _LATIN_WORD_TAIL))
        elif written:
            patterns.append(words_pattern([normalize(written)], prefix=False))
    return patterns


def highlight(text: str, patterns: Sequence[re.Pattern[str]]) -> tuple[Segment, ...]:
    """`text` cut into segments, the ones matching a pattern (on the normalised text) marked."""
    if not patterns or not text:
        return (Segment(text),) if text else ()
    normalised, origin = _normalise_with_origin(text)
    spans: list[tuple[int, int]] = []
    for pattern in patterns:
        for match in pattern.finditer(normalised):
            if match.end() > match.start():
                spans.append((origin[match.start()][0], origin[match.end() - 1][1]))
    segments: list[Segment] = []
    position = 0
    for start, end in _merge(spans):
        if start > position:
            segments.append(Segment(text[position:start]))
        segments.append(Segment(text[start:end], marked=True))
        position = end
    if position < len(text):
        segments.append(Segment(text[position:]))
    return tuple(segments)


def _normalise_with_origin(text: str) -> tuple[str, list[tuple[int, int]]]:
    """`normalize(text)` built cluster by cluster (a character and its combining marks), with the
    span of the original text each normalised character came from.

    A run of ASCII characters is folded at once: each is a cluster of its own, normalised by `lower()`
    alone (NFKC keeps ASCII as it is; casefold and the variant fold change no other ASCII character) —
    except a run's last character when combining marks follow it, which goes the slow way with them.
    """
    pieces: list[str] = []
    origin: list[tuple[int, int]] = []
    start = 0
    while start < len(text):
        ascii_run = _ASCII_RUN.match(text, start)
        if ascii_run:
            end = ascii_run.end()
            if end < len(text) and unicodedata.combining(text[end]):
                end -= 1  # the run's last character and the marks after it are one cluster
            if end > start:
                pieces.append(text[start:end].lower())
                origin.extend(zip(range(start, end), range(start + 1, end + 1)))
                start = end
                continue
        end = start + 1
        while end < len(text) and unicodedata.combining(text[end]):
            end += 1
        folded = normalize(text[start:end])
        pieces.append(folded)
        origin.extend([(start, end)] * len(folded))
        start = end
    return "".join(pieces), origin


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def safe_url(url: str) -> str | None:
    """`url` when it is a plain http(s) link, else None (no javascript:, data: or odd schemes in a mail)."""
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.netloc and not INVISIBLE.search(url) and " " not in url:
        return url
    return None


# --- source health -------------------------------------------------------------------------------


def source_problems(source_names: Sequence[str], runs: Sequence[CrawlRun]) -> list[SourceProblem]:
    """Sources whose `runs` (those since the last digest) failed, found no new article, or are missing.

    A source is named when any of its runs failed or was interrupted (with the last error message),
    when its finished runs together stored no new article, or when a configured source has no run.
    Runs still going count for neither.
    """
    runs_by_source: dict[str, list[CrawlRun]] = defaultdict(list)
    for run in runs:
        runs_by_source[run.source.name].append(run)
    problems = []
    for name in [*source_names, *sorted(set(runs_by_source) - set(source_names))]:
        source_runs = runs_by_source.get(name, [])
        finished = [run for run in source_runs if run.status != "running"]
        failed = [run for run in finished if run.status in ("failed", "interrupted")]
        if not source_runs:
            problem = "not crawled"
        elif failed:
            problem = f"{len(failed)} of {len(finished)} crawls failed"
            last_message = next((run.message for run in reversed(failed) if run.message), None)
            if last_message:
                problem += f" (last: {clean_line(last_message, MAX_PROBLEM_CHARS)})"
        elif finished and sum(run.articles_new for run in finished) == 0:
            problem = f"{len(finished)} crawl{'s' if len(finished) != 1 else ''} found no new article"
        else:
            continue
        problems.append(SourceProblem(source=name, problem=problem))
    return problems


# --- small pieces --------------------------------------------------------------------------------


def _effective_date(article: Article) -> datetime:
    return article.published_at or article.first_seen_at


def _format_time(value: datetime, zone: ZoneInfo) -> str:
    return value.astimezone(zone).strftime(TIME_FORMAT)
