"""A crawl of one source as a Scrapyd job: what runs on a node (`kuroshio.scheduler.scale` dispatches it).

Scrapyd starts `scrapy crawl kuroshio -a source=NAME -a node=URL -a _job=ID` in a process of its own,
with the settings module the deployed egg names (`kuroshio.scheduler.scrapyd_settings`, see
contrib/scrapyd/). Nothing of the daemon reaches that process but those arguments: the node reads the
Kuroshio config itself (`KUROSHIO_CONFIG`, `KUROSHIO_DATABASE_URL` and the password variable from the
environment Scrapyd was started with) — the same file as the daemon's, against the same PostgreSQL store.

So the framing `kuroshio crawl` puts around a crawl here happens inside the job (`JobRun`): before the
spider opens it takes the source's lease (another holder anywhere — a crawl on another node, or here — and
the job closes at once, finish reason `lease_held`, recording nothing) and records the run `running` with
its host, node and job id, renewing the lease while it crawls; when the spider closes it finishes the run
as a local crawl does (`kuroshio.scheduler.crawls.record_result`) and gives the lease back. A job
cancelled through Scrapyd (cancel.json: SIGINT, Scrapy's graceful stop) records its run `interrupted`; a
job killed with its node leaves the run `running` for the dead-run rule (`kuroshio.scheduler.dead_runs`)
to mark once its lease is no longer renewed.
"""

from __future__ import annotations

import functools
import logging
import os
from datetime import datetime, timezone
from typing import Any, Self, cast

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import CloseSpider
from scrapy.spiders import Spider
from scrapy.utils.defer import deferred_from_coro

from kuroshio.crawler.options import SourceConfig
from kuroshio.crawler.run import source_run
from kuroshio.crawler.settings import scrapy_settings
from kuroshio.crawler.spiders.source import SourceSpider
from kuroshio.scheduler.config import Config, load_config
from kuroshio.scheduler.crawls import crawl_window, record_result
from kuroshio.scheduler.locks import CRAWL_LEASE_TTL, HOST, LeaseHeld, LeaseKeeper, crawl_lease
from kuroshio.storage.engine import create_engine_for, session_factory, upgrade_schema
from kuroshio.storage.runs import start_run

logger = logging.getLogger(__name__)

SPIDER_NAME = "kuroshio"  # the spider every job names: schedule.json's `spider`
LEASE_HELD = "lease_held"  # the finish reason of a job that found its source crawled elsewhere


@functools.cache
def job_config() -> Config:
    """The node's Kuroshio config, read once per job process (the settings module and the spider share it)."""
    return load_config()


def job_settings() -> dict[str, Any]:
    """The Scrapy settings of a job: the crawl's own (`crawler.settings`), the store and the topics, and
    this module as the only spider module."""
    config = job_config()
    return {
        **scrapy_settings(config.crawl, log_level="INFO"),  # into the job's log file on the node
        "KUROSHIO_DATABASE_URL": config.storage_url,
        "KUROSHIO_TOPICS": list(config.topics),
        "SPIDER_MODULES": [__name__],
    }


class JobSpider(SourceSpider):
    """The source spider of a Scrapyd job: its source named by the `source` argument, framed by `JobRun`."""

    name = SPIDER_NAME

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Self:
        config = job_config()
        name, node, job = kwargs.pop("source", ""), kwargs.pop("node", ""), kwargs.pop("_job", "")
        source = config.select_sources((name,))[0] if name else None  # an unknown name: ConfigError, one line
        if source is None:
            raise ValueError("a Kuroshio job needs a source: -a source=NAME")
        started_at = datetime.now(timezone.utc)
        job_run = JobRun(crawler, config, source, node=node or None, job=job or None, now=started_at)
        spider = cast(Self, super().from_crawler(crawler, *args, source=source, max_pages=config.crawl.max_pages,
                                      window=crawl_window(started_at, max_age=config.crawl.max_age, since=None),
                                      **kwargs))
        spider.job_run = job_run  # type: ignore[attr-defined]  # signals hold their receivers weakly
        return spider


class JobRun:
    """The lease and the run record around one job's crawl of one source."""

    def __init__(self, crawler: Crawler, config: Config, source: SourceConfig, *, node: str | None,
                 job: str | None, now: datetime) -> None:
        self.crawler = crawler
        self.source = source
        self.engine = create_engine_for(config.storage_url)
        upgrade_schema(self.engine)  # the first process to open a store after an upgrade migrates it
        sessions = session_factory(self.engine)
        self.sessions = sessions
        self.run_id: int | None = None
        self.refusal: str | None = None
        self.keeper = LeaseKeeper(sessions, [crawl_lease(source.name)], ttl=CRAWL_LEASE_TTL, on_lost=self._lost)
        try:
            self.keeper.__enter__()
        except LeaseHeld as held:
            self.refusal = f"{held}: not crawled by job {job} on {node}"
            logger.warning("%s", self.refusal)
        else:
            try:
                with sessions() as session:
                    self.run_id = start_run(session, source.name, pid=os.getpid(), host=HOST, node=node, job=job,
                                            now=now)
            except BaseException:
                self.keeper.__exit__(None, None, None)
                raise
            crawler.settings.set("KUROSHIO_RUN_ID", self.run_id, priority="spider")  # before the pipeline reads it
        crawler.signals.connect(self.opened, signal=signals.spider_opened)
        crawler.signals.connect(self.closed, signal=signals.spider_closed)

    def opened(self, spider: Spider) -> None:
        """A job whose source is crawled elsewhere stops here, before any request."""
        if self.refusal is not None:
            raise CloseSpider(LEASE_HELD)

    def closed(self, spider: Spider, reason: str) -> None:
        """Record how the run ended, and give the lease back."""
        try:
            if self.run_id is None:
                return
            self.crawler.stats.set_value("finish_reason", reason)  # CoreStats sets it after this handler
            # `shutdown`: Scrapy stopped on a signal, cancel.json's SIGINT or a SIGTERM.
            stopped = "interrupted (cancelled): stopped after the pages in flight" if reason == "shutdown" else None
            result = source_run(self.source, self.crawler, stopped=stopped)
            with self.sessions() as session:
                record_result(session, self.run_id, result, now=datetime.now(timezone.utc))
            logger.info("run %d of %s recorded: %s", self.run_id, self.source.name, result.status)
        finally:
            if self.run_id is not None:
                self.keeper.__exit__(None, None, None)
            self.engine.dispose()

    def _lost(self, name: str) -> None:
        """Another process took the lease (ours expired: the store was unreachable too long): stop, as a
        local crawl would, since the other may be crawling the same source now."""
        logger.error("lease %s lost: stopping the crawl of %s", name, self.source.name)
        from twisted.internet import reactor

        engine = self.crawler.engine
        reactor.callFromThread(lambda: deferred_from_coro(engine.close_spider_async(reason="lease_lost")))

