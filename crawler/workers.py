"""Extraction in worker processes, so one large crawl can use more than one core.

Why: extraction is most of a crawl's CPU and runs in Python, so in the crawl's own process it
competes with Scrapy's engine and the store for one core under the GIL. With `[crawl]
extraction_workers = N`, pages are extracted in N processes while the reactor goes on downloading
and storing; the default 0 keeps extraction in the crawl process (the daemon already runs several
crawls side by side, each in a process of its own).

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
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from functools import partial
from multiprocessing.connection import Connection

from crawler.article import ExtractedArticle
from crawler.extract import extract_article
from crawler.publishers import PUBLISHERS

logger = logging.getLogger(__name__)


class ExtractionWorkerDied(RuntimeError):
    """The worker process extracting a page exited before answering."""


class ExtractionWorkers:
    """A pool of `processes` extraction workers, shared by the spiders of a crawl process."""

    _shared: ExtractionWorkers | None = None
    _users = 0

    def __init__(self, processes: int) -> None:
        self.processes = processes
        self._lifeline: Connection
        self._executor = self._new_executor()

    @classmethod
    def acquire(cls, processes: int) -> ExtractionWorkers:
        """The crawl process's pool (started by the first spider that asks); `release` when done."""
        if cls._shared is None:
            cls._shared = cls(processes)
        cls._users += 1
        return cls._shared

    @classmethod
    def release(cls) -> None:
        """One spider is done with the pool; the last one shuts it down."""
        cls._users -= 1
        if cls._users == 0 and cls._shared is not None:
            cls._shared.close()
            cls._shared = None

    async def extract(
        self,
        body: bytes,
        *,
        url: str,
        source: str,
        content_type: str | None,
        publisher: str | None,
        feed_published_at: datetime | None,
    ) -> ExtractedArticle:
        """`crawler.extract.extract_article` run in a worker; raises what it raises there."""
        call = partial(_extract_in_worker, body, url=url, source=source, content_type=content_type,
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
        context.set_forkserver_preload(["crawler.extract"])
        # Only this process holds the writing end: the workers see it close when this process ends,
        # however it ends (a worker blocked on its task queue would not: it holds both ends of that).
        lifeline, self._lifeline = context.Pipe(duplex=False)
        return ProcessPoolExecutor(max_workers=self.processes, mp_context=context,
                                   initializer=_exit_with_parent, initargs=(lifeline,))


def _exit_with_parent(lifeline: Connection) -> None:
    """In each worker: end this process as soon as the crawl process that started it has ended, so a
    SIGKILLed or timed-out crawl leaves no worker behind."""

    def watch() -> None:
        try:
            lifeline.recv_bytes()  # nothing is ever sent: this returns (EOFError) when the writer is gone
        except EOFError:
            pass
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _extract_in_worker(
    body: bytes,
    *,
    url: str,
    source: str,
    content_type: str | None,
    publisher: str | None,
    feed_published_at: datetime | None,
) -> ExtractedArticle:
    """Runs in a worker: publishers travel by name, their rules are this process's own."""
    return extract_article(body, url=url, source=source, content_type=content_type,
                           publisher=PUBLISHERS.get(publisher) if publisher else None,
                           feed_published_at=feed_published_at)
