"""Reading a large archive: search, list-since and digest composition over 100,000 stored articles.

Why: the archive only grows, and an analyst's `kuroshio articles search`, `articles list --since` and
the daily digest must stay interactive on a year or two of articles (target: each under 200 ms).

The store is built through the real migrations (so the FTS5 index and its triggers are in place) and
filled with bulk inserts through the ORM models' tables, consistent with the schema: every article has
its URL (and, for a third, a tracking-parameter alias) in `article_urls`, ~20% have a `topic_matches`
row for the default topic, texts are seed-like sentences (2-5 kB), dates spread over a year. Exactly
`--owed` relevant articles are owed to the `morning` digest (every older relevant one was delivered).
Each figure is the median of several runs, each in a fresh session (no ORM identity-map reuse).
One more figure needs no store: composing a digest owed `--backlog` articles whose headlines differ only
in their numbers (every one a story of its own, so the story folding compares them all) — the worst
backlog a daemon that was down for weeks could meet; the test suite checks its stories and cap, here
it is timed.

    .venv/bin/python -m benchmarks.reading [--articles 100000] [--owed 1000] [--backlog 10000]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from benchmarks.common import KUROSHIO, machine_summary, median_ms, remove_tree, run_measured, sqlite_url
from benchmarks.synthetic_web import neutralise, sentence_pool
from kuroshio.digest.options import DigestConfig
from kuroshio.scheduler.config import builtin_config
from kuroshio.storage.articles import list_articles
from kuroshio.storage.engine import create_engine_for, session_factory, upgrade_schema
from kuroshio.storage.models import Article, ArticleTopic, ArticleURL, CrawlRun, DigestAttempt, DigestDelivery, Source
from kuroshio.storage.search import search_articles

BATCH = 5_000
SOURCES = ("focus-taiwan", "kyodo", "taiwan-news", "nikkei-asia", "taipei-times", "japan-times", "cna-chinese",
           "nhk-world", "liberty-times", "asahi", "reuters-asia", "scmp")
TARGET_MS = 200.0


def build_store(database: Path, *, articles: int, owed: int, now: datetime, seed: int = 7) -> str:
    """Create and fill the store; returns its URL."""
    url = sqlite_url(database)
    engine = create_engine_for(url)
    upgrade_schema(engine)
    rng = random.Random(seed)
    sentences = sentence_pool()
    sessions = session_factory(engine)
    with sessions() as session, session.begin():
        session.execute(insert(Source), [{"id": number + 1, "name": name} for number, name in enumerate(SOURCES)])
        runs = [{"id": number, "source_id": number % len(SOURCES) + 1, "status": "ok", "pid": 1,
                 "started_at": now - timedelta(hours=6 * number), "finished_at": now - timedelta(hours=6 * number - 1),
                 "pages_fetched": 50, "articles_new": 20, "articles_relevant": 4, "duplicates_skipped": 0,
                 "errors_count": 0, "errors": []} for number in range(1, 1500)]
        session.execute(insert(CrawlRun), runs)
        session.execute(insert(DigestAttempt), [{"digest": "morning", "started_at": now - timedelta(days=1),
                                                 "finished_at": now - timedelta(days=1), "status": "ok",
                                                 "articles_count": 0}])
    relevant_ids: list[tuple[datetime, int]] = []
    for start in range(0, articles, BATCH):
        article_rows, url_rows, topic_rows = [], [], []
        for article_id in range(start + 1, min(start + BATCH, articles) + 1):
            relevant = rng.random() < 0.2
            kind = "on-topic" if relevant else rng.choice(("taiwan-only", "japan-only", "neither"))
            text = neutralise("\n\n".join(" ".join(rng.choice(sentences) for _ in range(rng.randint(2, 4)))
                                           for _ in range(rng.randint(4, 12))), kind)
            first_seen = now - timedelta(minutes=rng.randint(0, 365 * 24 * 60))
            published = first_seen - timedelta(minutes=rng.randint(5, 600)) if rng.random() > 0.05 else None
            source_id = rng.randint(1, len(SOURCES))
            page_url = f"https://{SOURCES[source_id - 1]}.example/news/{article_id}"
            article_rows.append({
                "id": article_id, "source_id": source_id, "url": page_url, "canonical_url": page_url,
                "title": neutralise(_headline(sentences, rng), kind), "authors": [],
                "published_at": published, "published_utc_offset": 480, "language": "en", "text": text,
                "content_sha256": hashlib.sha256(text.encode()).hexdigest(), "first_seen_at": first_seen,
                "crawl_run_id": rng.randint(1, len(runs)),
            })
            url_rows.append({"article_id": article_id, "url": page_url})
            if rng.random() < 0.33:
                url_rows.append({"article_id": article_id, "url": f"{page_url}?utm_source=feed"})
            if relevant:
                topic_rows.append({"article_id": article_id, "topic": "taiwan-japan", "score": rng.randint(2, 12),
                                   "terms": ["taiwan", "japan"]})
                relevant_ids.append((published or first_seen, article_id))
        with sessions() as session, session.begin():
            session.execute(insert(Article), article_rows)
            session.execute(insert(ArticleURL), url_rows)
            if topic_rows:
                session.execute(insert(ArticleTopic), topic_rows)
    delivered = [article_id for _, article_id in sorted(relevant_ids, reverse=True)[owed:]]
    with sessions() as session, session.begin():
        session.execute(insert(DigestDelivery), [{"digest": "morning", "article_id": article_id,
                                                  "delivered_at": now - timedelta(days=1),
                                                  "message_id": f"<{article_id}@bench>"} for article_id in delivered])
    engine.dispose()
    return url


def _headline(sentences: Sequence[str], rng: random.Random) -> str:
    """Two random runs of words from the pool: headlines as varied as a year of news, in its vocabulary."""
    words = [rng.choice(sentences).split() for _ in range(2)]
    runs = []
    for sentence, length in zip(words, (rng.randint(4, 7), rng.randint(3, 5))):
        start = rng.randint(0, max(0, len(sentence) - length))
        runs.append(" ".join(sentence[start:start + length]))
    headline = " ".join(runs).strip(",.;:")
    return headline[:1].upper() + headline[1:]


def timed(label: str, sessions: sessionmaker[Session], query: Callable[[Session], Sequence[object]],
          *, runs: int) -> tuple[str, float, int]:
    """Median milliseconds of `query` in a fresh session, and how many rows it returned."""
    counts: list[int] = []

    def once() -> None:
        with sessions() as session:
            counts.append(len(query(session)))

    return label, median_ms(once, runs=runs), counts[-1]


def main(argv: Sequence[str] | None = None) -> None:
    """Build the store, then time each read."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.reading", description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--owed", type=int, default=1_000, help="relevant articles owed to the digest")
    parser.add_argument("--backlog", type=int, default=10_000,
                        help="articles of the unstored backlog composed into one digest")
    parser.add_argument("--runs", type=int, default=7, help="timed runs per query (the median is shown)")
    args = parser.parse_args(argv)
    print(machine_summary())
    scratch = Path(tempfile.mkdtemp(prefix="kuroshio-reading-"))
    now = datetime.now(timezone.utc)
    try:
        started = time.perf_counter()
        url = build_store(scratch / "archive.db", articles=args.articles, owed=args.owed, now=now)
        size = sum(path.stat().st_size for path in scratch.glob("archive.db*"))
        print(f"store: {args.articles} articles, {args.owed} owed to the digest, {size / 1e6:.0f} MB, "
              f"built in {time.perf_counter() - started:.0f} s")
        engine = create_engine_for(url)
        sessions = session_factory(engine)
        week_ago = now - timedelta(days=7)
        rows = [
            timed("search_articles('Taiwan Japan semiconductor', limit=20)", sessions,
                  lambda s: search_articles(s, "Taiwan Japan semiconductor", limit=20), runs=args.runs),
            timed("search_articles('Kumamoto', limit=20)", sessions,
                  lambda s: search_articles(s, "Kumamoto", limit=20), runs=args.runs),
            timed("list_articles(since=7 days ago, limit=50)", sessions,
                  lambda s: list_articles(s, since=week_ago, limit=50), runs=args.runs),
            timed("list_articles(since=7 days ago, include_unmatched, limit=50)", sessions,
                  lambda s: list_articles(s, since=week_ago, include_unmatched=True, limit=50), runs=args.runs),
            timed("list_articles(topic, since=7 days ago, no limit)", sessions,
                  lambda s: list_articles(s, topic="taiwan-japan", since=week_ago), runs=args.runs),
        ]
        rows.extend(_digest_rows(sessions, url, now=now, runs=args.runs))
        rows.extend(_backlog_rows(args.backlog, now=now, runs=args.runs))
        print(f"{'query':<66} {'median ms':>9} {'rows':>6}  target < {TARGET_MS:.0f} ms")
        for label, milliseconds, count in rows:
            print(f"{label:<66} {milliseconds:9.1f} {count:6}  {'ok' if milliseconds < TARGET_MS else 'OVER'}")
        engine.dispose()
        _cli_rows(scratch, url)
    finally:
        remove_tree(scratch)


def _digest_rows(sessions: sessionmaker[Session], url: str, *, now: datetime, runs: int) -> list[tuple[str, float, int]]:
    try:
        from kuroshio.digest.compose import compose_owed
    except ImportError as error:
        print(f"digest composition skipped: the digest package is not ready ({error})")
        return []
    digest = DigestConfig(name="morning", topics=("taiwan-japan",), to=("analyst@example.org",),
                          timezone="Asia/Taipei", subject="Kuroshio {name}: {count} new articles", send_empty=False,
                          max_articles=200)
    topic_names = builtin_config().topic_names
    return [timed("compose_owed(morning) -> stories (count: articles owed)", sessions,
                  lambda s: compose_owed(s, digest, source_names=SOURCES, topic_names=topic_names,
                                         now=now).article_ids, runs=runs)]


def _backlog_rows(count: int, *, now: datetime, runs: int) -> list[tuple[str, float, int]]:
    """Compose one digest of `count` owed articles whose headlines differ only in their numbers."""
    try:
        from kuroshio.digest.compose import compose_digest
    except ImportError as error:
        print(f"backlog composition skipped: the digest package is not ready ({error})")
        return []
    from kuroshio.crawler.topics import default_topics, match_topics
    from kuroshio.storage.records import text_sha256

    topics = default_topics()
    start = now - timedelta(minutes=count)
    backlog = []
    for number in range(count):
        title = f"Taiwan and Japan report {number}: talks on item {number * 7919 % 10007}"
        text = f"Report {number} on Taiwan and Japan. Japan and Taiwan met."
        matches = match_topics(topics, title=title, text=text)
        backlog.append(Article(
            id=number + 1, source=Source(name=SOURCES[number % len(SOURCES)]),
            url=f"https://backlog.example/{number}", canonical_url=f"https://backlog.example/{number}", title=title,
            text=text, authors=[], published_at=start + timedelta(minutes=number), first_seen_at=now,
            content_sha256=text_sha256(text),
            topic_matches=[ArticleTopic(topic=m.topic, score=m.score, terms=list(m.terms)) for m in matches]))
    backlog.reverse()  # owed articles come newest first
    digest = DigestConfig(name="morning", topics=(), to=("analyst@example.org",), timezone="Asia/Taipei",
                          subject="Kuroshio {name}: {count} new articles", send_empty=False, max_articles=200)
    stories: list[int] = []

    def compose() -> None:
        content = compose_digest(digest, backlog, topic_names=[topic.name for topic in topics],
                                 problems_since=now - timedelta(days=1), now=now)
        stories.append(content.story_count)

    milliseconds = median_ms(compose, runs=runs)
    return [(f"compose_digest({count} owed, similar headlines) -> stories", milliseconds, stories[-1])]


def _cli_rows(scratch: Path, url: str) -> None:
    """The same reads as an analyst types them: whole `kuroshio` processes, start-up included."""
    config = scratch / "reading.toml"
    config.write_text(f'[storage]\nurl = "{url}"\n', encoding="utf-8")
    since = (datetime.now(timezone.utc) - timedelta(days=7)).date().isoformat()
    for arguments in (["articles", "search", "Taiwan Japan semiconductor"], ["articles", "list", "--since", since]):
        timings = [run_measured([*KUROSHIO, "--config", str(config), *arguments]).seconds for _ in range(3)]
        print(f"`kuroshio {' '.join(arguments)}` whole process: median {sorted(timings)[1] * 1000:.0f} ms "
              f"(Python and library start-up included)")


if __name__ == "__main__":
    main()
