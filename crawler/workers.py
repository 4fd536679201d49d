"""Reading an article page — extraction, then topic matching — in the crawl's process or in workers.

Why workers: reading is most of a crawl's CPU and runs in Python, so in the crawl's own process it
competes with Scrapy's engine and the store for one core under the GIL. With `[crawl]
extraction_workers = N`, pages are read in N processes while the reactor goes on downloading and
storing; the default 0 reads them in the crawl process (the daemon already runs several crawls side
by side, each in a process of its own).

The workers fork from a forkserver that has already imported trafilatura, so starting them is cheap
and they inherit no reactor, thread or database connection. Every spider of a crawl process shares
one pool. A worker that dies (a crash in lxml, the OOM killer) costs only the pages it held: they
fail with `ExtractionWorkerDied` and are fetched again by the next crawl, and the pool is replaced.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from functools import partial
from multiprocessing.connection import Connection

from kuroshio.crawler.publishers import PUBLISHERS, Publisher
from kuroshio.crawler.topics import Topic, match_topics
from kuroshio.storage.records import ExtractedArticle, TopicMatch

logger = logging.getLogger(__name__)


class ExtractionWorkerDied(RuntimeError):
    """The worker process reading a page exited before answering."""


def read_article(
    body: bytes,
    *,
    url: str,
    source: str,
    content_type: str | None,
    publisher: Publisher | None,
    feed_published_at: datetime | None,
    topics: Sequence[Topic],
) -> tuple[ExtractedArticle, tuple[TopicMatch, ...]]:
    """The page's article and the topics it matches; raises what `extract_article` raises."""
    # trafilatura comes with it, loaded by the first page to read: a crawl finding nothing new reads none.
    from kuroshio.crawler.extract import extract_article

    article = extract_article(body, url=url, source=source, content_type=content_type, publisher=publisher,
                              feed_published_at=feed_published_at)
    return article, tuple(match_topics(topics, title=article.title, text=article.text))


class ExtractionWorkers:
    """A pool of `processes` workers reading pages against `topics`, shared by a crawl process's spiders."""

    _shared: ExtractionWorkers | None = None
    _users = 0

    def __init__(self, processes: int, topics: Sequence[Topic]) -> None:
        self.processes = processes
        self.topics = tuple(topics)
        self._lifeline: Connection
        self._executor = self._new_executor()

    @classmethod
    def acquire(cls, processes: int, topics: Sequence[Topic]) -> ExtractionWorkers:
        """The crawl process's pool (started by the first spider that asks); `release` when done."""
        if cls._shared is None:
            cls._shared = cls(processes, topics)
        cls._users += 1
        return cls._shared

    @classmethod
    def release(cls) -> None:
        """One spider is done with the pool; the last one shuts it down."""
        cls._users -= 1
        if cls._users == 0 and cls._shared is not None:
            cls._shared.close()
            cls._shared = None

    async def read(
        self,
        body: bytes,
        *,
        url: str,
        source: str,
        content_type: str | None,
        publisher: str | None,
        feed_published_at: datetime | None,
    ) -> tuple[ExtractedArticle, tuple[TopicMatch, ...]]:
        """`read_article` run in a worker (against the pool's topics); raises what it raises there."""
        call = partial(_read_in_worker, body, url=url, source=source, content_type=content_type,
                       publisher=publisher, feed_published_at=feed_published_at)
        executor = self._executor
        try:
            return await asyncio.get_running_loop().run_in_executor(executor, call)
        except BrokenProcessPool as error:
            self._replace(executor)
            raise ExtractionWorkerDied(f"extraction worker died: {error}") from None

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._lifeline.close()

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        """A new pool in place of a broken one (once, however many pages the broken one failed)."""
        if self._executor is broken:
            logger.warning("an extraction worker died; starting a new pool of %d", self.processes)
            broken.shutdown(wait=False, cancel_futures=True)
            self._lifeline.close()
            self._executor = self._new_executor()

    def _new_executor(self) -> ProcessPoolExecutor:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["kuroshio.crawler.extract"])
        # Only this process holds the writing end: the workers see it close when this process ends,
        # however it ends (a worker blocked on its task queue would not: it holds both ends of that).
        lifeline, self._lifeline = context.Pipe(duplex=False)
        return ProcessPoolExecutor(max_workers=self.processes, mp_context=context,
                                   initializer=_start_worker, initargs=(lifeline, self.topics))


# The topics every page is matched against, in a worker; set once when it starts.
_worker_topics: tuple[Topic, ...] = ()


def _start_worker(lifeline: Connection, topics: tuple[Topic, ...]) -> None:
    """In each worker: keep the topics, and end this process as soon as the crawl process that started
    it has ended, so a SIGKILLed or timed-out crawl leaves no worker behind."""
    global _worker_topics
    _worker_topics = topics

    def watch() -> None:
        try:
            lifeline.recv_bytes()  # nothing is ever sent: this returns (EOFError) when the writer is gone
        except EOFError:
            pass
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _read_in_worker(
    body: bytes,
    *,
    url: str,
    source: str,
    content_type: str | None,
    publisher: str | None,
    feed_published_at: datetime | None,
) -> tuple[ExtractedArticle, tuple[TopicMatch, ...]]:
    """Runs in a worker: publishers travel by name, their rules are this process's own."""
    return read_article(body, url=url, source=source, content_type=content_type,
                        publisher=PUBLISHERS.get(publisher) if publisher else None,
                        feed_published_at=feed_published_at, topics=_worker_topics)
