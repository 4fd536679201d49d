"""`kuroshio daemon`: APScheduler triggers crawls (and digests) for months, in the foreground.

Design, and why:
- **Crawls in subprocesses, several sources to one** (`kuroshio crawl --source A --source B ...`, as
  news-please's daemon runs one per crawl). Scrapy's Twisted reactor cannot be restarted in a process,
  and a crawl can raise, hang or bloat memory; in its own process it is ended and cleaned up by the
  kernel, and the daemon stays small and alive. A process costs a second of CPU and ~100 MiB before it
  fetches anything, so due sources share one: up to `daemon.max_sources_per_process`, at most
  `daemon.max_crawl_processes` processes at once (`kuroshio.scheduler.dispatch` says which and when).
  Each source keeps its own crawler, run record and lease, so a source that fails fails alone; a process
  that dies (a crash, the OOM killer) or outlives `daemon.crawl_timeout` costs the runs of its own
  sources, no others. The time limit is per process, the same as for one source: the sources of a
  process crawl side by side, each with its own downloader, so a process lasts as long as its slowest
  source, not as long as all of them. Its sources are free to be queued again only when it ends: a slow
  source holds its process-mates' next polls back. The crawl records its own runs; the daemon only
  ends those of a process it had to kill or that died.
- **The database is the truth, not the job store.** APScheduler 3 keeps no "running" state and drops a
  stored job it cannot unpickle, and its persistent store cannot be shared by two processes. So the
  schedule lives in memory, re-declared from config at every start with stable job ids
  (`crawl:<source>`, `digest:<name>`), and the catch-up decision is taken from the crawl-run records:
  a run due while the daemon was down is made up once at start if it is less than
  `daemon.misfire_grace` late.
- **Leases** (`scheduler.locks`): one daemon per database (a second refuses), one crawl per source
  (a one-off `kuroshio crawl` and a scheduled one never overlap). A killed holder's lease expires.
- **Signals**: SIGTERM/SIGINT stop scheduling and ask running crawls to stop (Scrapy finishes
  in-flight pages and records its run); whatever still runs after `daemon.shutdown_grace` is
  killed, its run marked interrupted and the leases it held given back, as the daemon gives back its
  own: the next start takes nothing over. Exit status 0. A second signal exits at once.
- **A store that cannot take writes** (full, read-only) fails the crawls and the heartbeat, not the
  daemon: each failure is logged in one line, the next scheduled run tries again, and the end of a
  crawl that could not record it is recorded before the next crawl. The daemon opens the database per
  use, so it writes again as soon as the store can. It refuses to start on such a store (exit 74;
  systemd's `Restart=on-failure` tries again).
- **Topics edited since the archive was scored are re-scored at start** (`kuroshio topics rematch` in a
  subprocess, as a crawl: the matcher's dictionaries stay out of the daemon, which stays responsive).
  Its batches are short transactions, so crawls and digests go on meanwhile; a rematch that fails or
  is stopped resumes where it stopped, tried again after `REMATCH_RETRY`.
- **A crawl still running at its next tick** skips that tick (one instance per job): said once, at INFO,
  until the crawl ends. APScheduler would warn of it on every tick, hundreds of lines an hour for a short
  interval, so its own warning is filtered out (`_skipped_tick_warning`).
- **A crawl gets no secret.** It parses hostile content, so its process is given only the environment
  it needs (`crawl_environment`: the PATH, locale, time zone, Python and proxy variables, and the
  database URL), never the SMTP password or anything else the daemon's environment holds.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from concurrent import futures
from contextlib import suppress
from datetime import datetime, timedelta, timezone
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MAX_INSTANCES, JobEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from kuroshio.crawler.options import SourceConfig
from kuroshio.scheduler.config import Config
from kuroshio.scheduler.dead_runs import mark_dead_runs
from kuroshio.scheduler.digests import send_due_digest
from kuroshio.scheduler.dispatch import Admission, CrawlQueue
from kuroshio.scheduler.exits import EXIT_ANOTHER_DAEMON, EXIT_BUSY, EXIT_STORE_UNWRITABLE
from kuroshio.scheduler.locks import (
    DAEMON_LEASE,
    Holder,
    LeaseHeld,
    LeaseKeeper,
    holder,
    release_leases_of_process,
)
from kuroshio.scheduler.phases import PhasedIntervalTrigger, staggered_starts
from kuroshio.scheduler.rematch import topics_to_rematch
from kuroshio.scheduler.scale import ScrapydDispatcher
from kuroshio.storage.digests import last_digest_attempts, newest_article_id
from kuroshio.storage.engine import create_engine_for, session_factory, unwritable_reason, upgrade_schema
from kuroshio.storage.runs import end_runs_of_process, last_runs

logger = logging.getLogger(__name__)

# What a crawl process keeps of the daemon's environment: these names, names with these prefixes, and
# the proxy variables Scrapy's HttpProxyMiddleware reads (urllib's getproxies: any name ending in _proxy).
CRAWL_ENVIRONMENT = frozenset({"PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR",
                               "SSL_CERT_FILE", "SSL_CERT_DIR", "KUROSHIO_DATA_DIR"})
CRAWL_ENVIRONMENT_PREFIXES = ("LC_", "PYTHON")
KILL_WAIT = 10.0  # seconds between SIGTERM and SIGKILL of a crawl that outlived its time limit
# APScheduler's threads: a crawl's job only queues its source; a digest or the rematch holds one while it runs.
JOB_THREADS = 4
GATHER_WINDOW = 1.0  # seconds a due source waits for others falling due with it to share its process
DIGEST_RETRY = 600.0  # seconds before a digest the SMTP server did not take is tried again
INSTANT_POLL = 5.0  # seconds between an instant digest's looks for new stories (an index lookup each)
REMATCH_RETRY = 600.0  # seconds before a rematch that failed (or found its topics busy) is tried again


def _skipped_tick_warning(record: logging.LogRecord) -> bool:
    """False for APScheduler's warning that a job's tick was skipped, its previous run still going
    (`BaseScheduler._process_jobs`); the daemon says it once per overrun instead (`Daemon._tick_skipped`)."""
    return not str(record.msg).startswith('Execution of job "%s" skipped: maximum number of running instances')


class Daemon:
    """The long-running scheduler process."""

    def __init__(self, config: Config, *, log_level: str) -> None:
        self.config = config
        self.log_level = log_level
        self.engine = create_engine_for(config.storage_url, pooled=False)
        self.sessions: sessionmaker[Session] = session_factory(self.engine)
        self.stopping = threading.Event()
        self.crawls: dict[str, subprocess.Popen[bytes]] = {}  # source → the process crawling it
        self.crawls_lock = threading.Lock()
        self.queue = CrawlQueue(max_processes=config.daemon.max_crawl_processes,
                                max_sources=config.daemon.max_sources_per_process, gather=GATHER_WINDOW)
        self.queue_changed = threading.Condition()  # guards `queue` and `overrun_said`
        self.overrun_said: set[str] = set()  # sources whose skipped tick was logged, until their crawl ends
        self.dispatcher = threading.Thread(target=self._dispatch, name="dispatcher", daemon=True)
        self.batches = futures.ThreadPoolExecutor(config.daemon.max_crawl_processes, thread_name_prefix="crawl")
        # `[scale] scrapyd`: each source of a batch a job on a Scrapyd node instead (`kuroshio.scheduler.scale`).
        self.scrapyd = ScrapydDispatcher(
            config.scale.scrapyd, self.sessions, stopping=self.stopping, crawl_timeout=config.daemon.crawl_timeout,
            shutdown_grace=config.daemon.shutdown_grace) if config.scale.scrapyd else None
        self.rematch_process: subprocess.Popen[bytes] | None = None
        self.unended_runs: dict[int, tuple[str, str]] = {}  # crawl pid → the status and message to end its runs
        self.unended_lock = threading.Lock()
        self.newest_seen: dict[str, int | None] = {}  # instant digest → the newest article id at its last look
        self.scheduler = BackgroundScheduler(
            timezone=timezone.utc,
            executors={"default": ThreadPoolExecutor(JOB_THREADS)},
            job_defaults={"coalesce": True, "max_instances": 1,
                          "misfire_grace_time": int(config.daemon.misfire_grace)},
        )
        self.overrunning: set[str] = set()  # jobs whose skipped tick was logged, until their run ends
        self.schedule_lock = threading.Lock()  # held while a job changes the schedule (`_change_schedule`)
        self.schedule_closed = False  # set under it by shut-down: no job changes the schedule any more
        logging.getLogger("apscheduler.scheduler").addFilter(_skipped_tick_warning)  # added once: it skips one it holds
        self.scheduler.add_listener(self._tick_skipped, EVENT_JOB_MAX_INSTANCES)
        self.scheduler.add_listener(self._run_ended, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)

    def run(self) -> int:
        """Schedule until a signal arrives; the process exit status."""
        # From the start: a SIGTERM while it starts would otherwise kill it holding its lease.
        self._install_signal_handlers()
        keeper = LeaseKeeper(self.sessions, [DAEMON_LEASE], ttl=3 * self.config.daemon.heartbeat,
                             info=self._published_state, on_lost=self._lease_lost)
        try:
            upgrade_schema(self.engine)
            keeper.__enter__()
        except LeaseHeld as held:
            logger.error("another daemon already runs on this database: %s", held.holder.describe())
            return EXIT_ANOTHER_DAEMON
        except SQLAlchemyError as error:
            reason = unwritable_reason(error, self.config.storage_url)
            if reason is None:
                raise
            logger.error("%s: daemon not started", reason)
            return EXIT_STORE_UNWRITABLE
        try:
            self._recover_interrupted_runs()
            self._declare_jobs(datetime.now(timezone.utc))
            self._schedule_rematch(datetime.now(timezone.utc))
            self.scheduler.start()
            self.dispatcher.start()
            keeper.renew_now()
            logger.info("daemon started (pid %d): %d jobs", os.getpid(), len(self.scheduler.get_jobs()))
            self.stopping.wait()
            self._shut_down()
        finally:
            keeper.__exit__(None, None, None)
            self.engine.dispose()
        logger.info("daemon stopped")
        return 0

    # --- start-up -----------------------------------------------------------------------------

    def _recover_interrupted_runs(self) -> None:
        # As `crawl` and `status` do: a run is dead when its pid is gone here and no live lease holds it,
        # so a crawl of another host sharing the store is not taken for dead while it renews its lease.
        count = mark_dead_runs(self.sessions)
        if count:
            logger.warning("marked %d crawl runs left by dead processes as interrupted", count)

    def _declare_jobs(self, now: datetime) -> None:
        """Every crawl and digest job, as the daemon starts at `now`."""
        with self.sessions() as session:
            # An interrupted run did not do its work: it counts as missed, so it is made up now.
            last_crawled = {name: run.started_at for name, run in last_runs(session).items()
                            if run.status != "interrupted"}
            last_digested = {name: attempt.started_at for name, attempt in last_digest_attempts(session).items()}
        triggers = {source.name: self._source_trigger(source) for source in self.config.sources}
        # A source never crawled is due at once: a new monitor should show results.
        firsts = {name: self._first_run(trigger, last_crawled[name], now) if name in last_crawled else now
                  for name, trigger in triggers.items()}
        for name, first in self._staggered_first_runs(triggers, firsts, now).items():
            trigger = triggers[name]
            self.scheduler.add_job(self._crawl, trigger, args=[name], id=f"crawl:{name}", name=f"crawl {name}",
                                   next_run_time=first)
            logger.info("crawl of %s scheduled (%s), first run %s", name, trigger, first.isoformat())
        for digest in self.config.digests:
            if digest.mode == "instant":
                self._declare_instant(digest.name, now)
                continue
            trigger = CronTrigger.from_crontab(self.config.digest_schedule(digest.name).cron,
                                               timezone=ZoneInfo(digest.timezone))
            # A digest never sent waits for its time: mail at an odd hour on first start surprises.
            last = last_digested.get(digest.name)
            first = self._first_run(trigger, last, now) if last else trigger.get_next_fire_time(None, now)
            self.scheduler.add_job(self._send_digest, trigger, args=[digest.name], id=f"digest:{digest.name}",
                                   name=f"digest {digest.name}", next_run_time=first)
            logger.info("digest %s scheduled (%s), first run %s", digest.name, trigger, first.isoformat())

    def _declare_instant(self, name: str, now: datetime) -> None:
        """An instant digest looks for new stories every `INSTANT_POLL` seconds, from now: a restart sends
        what was stored while the daemon was down, and what was sent before it nothing twice."""
        self.scheduler.add_job(self._alert_new_stories, IntervalTrigger(seconds=INSTANT_POLL, timezone=timezone.utc),
                               args=[name], id=f"digest:{name}", name=f"instant digest {name}", next_run_time=now)
        logger.info("instant digest %s: looks for new stories every %.0f s", name, INSTANT_POLL)

    def _staggered_first_runs(self, triggers: Mapping[str, BaseTrigger], firsts: Mapping[str, datetime],
                              now: datetime) -> dict[str, datetime]:
        """`firsts` with the herd of sources due `now` spread over `daemon.start_spread` in waves of what
        the daemon crawls at once (`kuroshio.scheduler.phases.staggered_starts`): a thousand sources
        started at once queued behind the crawl processes, the last minutes late."""
        bounds = {name: _interval(triggers[name], now) for name, first in firsts.items() if first == now}
        daemon = self.config.daemon
        wave = daemon.max_crawl_processes * daemon.max_sources_per_process
        offsets = staggered_starts(bounds, wave=wave, spread=daemon.start_spread)
        if len(bounds) > wave and daemon.start_spread > 0:
            logger.info("%d sources due at start: %d at a time, spread over %.0f s (daemon.start_spread)",
                        len(bounds), wave, max(offsets.values()))
        return {name: first + timedelta(seconds=offsets.get(name, 0.0)) for name, first in firsts.items()}

    def _source_trigger(self, source: SourceConfig) -> BaseTrigger:
        schedule = self.config.source_schedule(source.name)
        if schedule.cron:
            return CronTrigger.from_crontab(schedule.cron, timezone=timezone.utc)
        return PhasedIntervalTrigger(source.name, seconds=schedule.every or self.config.daemon.every)

    def _first_run(self, trigger: BaseTrigger, last_started: datetime, now: datetime) -> datetime:
        """The next regular time; or now, when a run fell due since `last_started` within the grace time
        (spread with the other runs due now: `_staggered_first_runs`).

        Several runs missed while the daemon was down coalesce into this one catch-up run. One missed by
        more than the grace time is left to the source's next regular time at least an interval away: its
        own place on its grid, not now + the interval, where every source so skipped would fall due at once.
        """
        due = trigger.get_next_fire_time(None, last_started + timedelta(microseconds=1)) \
            if isinstance(trigger, CronTrigger) else last_started + trigger.interval
        if due > now:
            return due
        if now - due <= timedelta(seconds=self.config.daemon.misfire_grace):
            return now
        logger.warning("a run due at %s is older than the misfire grace time: skipped", due.isoformat())
        return trigger.get_next_fire_time(None, now) if isinstance(trigger, CronTrigger) \
            else trigger.get_next_fire_time(None, now + trigger.interval)

    def _install_signal_handlers(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.stopping.is_set():
            os._exit(128 + signum)  # the operator insists: now, whatever runs
        self.stopping.set()

    def _lease_lost(self, name: str) -> None:
        logger.error("lost the %s lease (another daemon took over?): stopping", name)
        self.stopping.set()

    def _tick_skipped(self, event: JobEvent) -> None:
        """A job due while its previous run still goes: said on the first skipped tick of that run only."""
        if event.job_id not in self.overrunning:
            self.overrunning.add(event.job_id)
            kind, _, name = event.job_id.partition(":")
            logger.info("%s %s still running at its next scheduled time: its ticks are skipped until it ends",
                        "crawl of" if kind == "crawl" else kind, name)

    def _run_ended(self, event: JobEvent) -> None:
        self.overrunning.discard(event.job_id)

    def _published_state(self) -> dict[str, Any]:
        """What `kuroshio status` shows of this daemon: its jobs and their next runs."""
        jobs = {}
        if self.scheduler.running:
            for job in self.scheduler.get_jobs():
                jobs[job.id] = job.next_run_time.isoformat() if job.next_run_time else None
        with self.crawls_lock:
            running = sorted(self.crawls)
        return {"jobs": jobs, "running": running}

    # --- jobs ---------------------------------------------------------------------------------

    def _crawl(self, source: str) -> None:
        """`source` is due: queued for the next crawl process, unless it is queued or running already."""
        if self.stopping.is_set():
            return
        with self.queue_changed:
            admission = self.queue.add(source, now=time.monotonic())
            self.queue_changed.notify()
            # A source still gathering its batch (GATHER_WINDOW) while slots are free is about to start:
            # no tick of it is said skipped until its crawl runs, or waits for a slot.
            waiting_for_a_slot = admission is Admission.WAITING and self.queue.full
            first_skip = (admission is Admission.RUNNING or waiting_for_a_slot) and source not in self.overrun_said
            if first_skip:
                self.overrun_said.add(source)
        if first_skip and admission is Admission.RUNNING:
            logger.info("crawl of %s still running at its next scheduled time: its ticks are skipped until it ends",
                        source)
        elif first_skip:
            logger.warning("crawl of %s still waiting for a crawl process at its next scheduled time (%d run at "
                           "once: daemon.max_crawl_processes): its ticks are skipped until it starts",
                           source, self.queue.max_processes)

    def _dispatch(self) -> None:
        """Start a crawl process for each batch the queue lets start, until the daemon stops."""
        with self.queue_changed:
            while not self.stopping.is_set():
                batch = self.queue.take(now=time.monotonic())
                if batch:
                    self.batches.submit(self._crawl_batch, batch).add_done_callback(_log_failure)
                else:
                    self.queue_changed.wait(timeout=self.queue.seconds_to_wait(now=time.monotonic()))

    def _crawl_batch(self, sources: list[str]) -> None:
        """One crawl process for `sources`; their slot is freed when it ends."""
        try:
            if self.scrapyd is not None:
                self.scrapyd.crawl(sources)
            else:
                self._crawl_in_process(sources)
        finally:
            with self.queue_changed:
                self.queue.finished(sources)
                self.overrun_said.difference_update(sources)
                self.queue_changed.notify()

    def _crawl_in_process(self, sources: list[str]) -> None:
        """Crawl `sources` in a subprocess, ended if it outlives `daemon.crawl_timeout`."""
        self._end_unended_runs()  # before a new process could reuse the pid of one that left runs open
        command = [sys.executable, "-m", "kuroshio.scheduler", "--log-level", self.log_level]
        if self.config.path is not None:
            command += ["--config", str(self.config.path)]
        command += ["crawl"]
        for source in sources:
            command += ["--source", source]
        names = ", ".join(sources)
        with self.crawls_lock:  # a process started after the shut-down took its list of crawls would be missed
            if self.stopping.is_set():
                return
            process = subprocess.Popen(command, env=crawl_environment(self.config, os.environ),
                                       stdin=subprocess.DEVNULL)
            self.crawls.update(dict.fromkeys(sources, process))
        logger.info("crawl of %s started (pid %d)", names, process.pid)
        try:
            self._wait_for_crawl(names, process)
        finally:
            with self.crawls_lock:
                for source in sources:
                    self.crawls.pop(source, None)

    def _wait_for_crawl(self, names: str, process: subprocess.Popen[bytes]) -> None:
        """Wait for the crawl of sources `names`, and end whichever of its runs it could not."""
        timeout = self.config.daemon.crawl_timeout
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            logger.error("crawl of %s outlived its %.0f s time limit: ending it", names, timeout)
            code = _terminate(process)
            self._end_runs(process.pid, "failed", f"timed out after {timeout:.0f} s")
            return
        logger.info("crawl of %s ended with status %d", names, code)
        if self.stopping.is_set() and code != 0:
            self._end_runs(process.pid, "interrupted", "daemon shut down during the crawl")
        elif code == EXIT_BUSY:
            logger.warning("crawl of %s skipped: another process is crawling it right now", names)
        elif code == EXIT_STORE_UNWRITABLE:
            logger.error("crawl of %s could not write to the database (its message is above): "
                         "the next scheduled run tries again", names)
            # The store refused this very moment: its run is ended before the next crawl instead.
            self._end_runs(process.pid, "failed", "the database refused writes (full or read-only?)", now=False)
        elif code not in (0, 1):
            logger.error("crawl of %s exited with status %d", names, code)
            self._end_runs(process.pid, "failed", f"crawl process exited with status {code}")

    def _end_runs(self, pid: int, status: str, message: str, *, now: bool = True) -> None:
        """Finish the runs a crawl process left open (it was killed, died, or could not write them), and
        give back the leases it left: `now`, and until the store takes the write, before each later crawl."""
        with self.unended_lock:
            self.unended_runs[pid] = (status, message)
        if now:
            self._end_unended_runs(failure_level=logging.ERROR)

    def _end_unended_runs(self, *, failure_level: int = logging.DEBUG) -> None:
        """Record the end of crawl runs not recorded yet, so that a run a full or read-only store cut
        short does not stay `running` until the daemon restarts."""
        with self.unended_lock:
            for pid, (status, message) in list(self.unended_runs.items()):
                try:
                    with self.sessions() as session:
                        end_runs_of_process(session, pid, status=status, message=message,
                                            now=datetime.now(timezone.utc))
                        _release_leases_left_by(session, pid)
                except SQLAlchemyError as error:
                    reason = unwritable_reason(error, self.config.storage_url)
                    if reason is None:
                        raise
                    logger.log(failure_level, "could not end the runs of crawl pid %d: %s; trying again before "
                               "the next crawl", pid, reason)
                    return
                del self.unended_runs[pid]

    def _send_digest(self, name: str) -> None:
        """Send digest `name`; a failed send (recorded by the digest) is tried again a little later."""
        if self.stopping.is_set():
            return
        digest = next(digest for digest in self.config.digests if digest.name == name)
        try:
            attempt = send_due_digest(self.config, digest, sessions=self.sessions)
        except LeaseHeld as held:
            logger.warning("digest %s skipped: %s", name, held)
            return
        except Exception as error:  # recorded as a failed attempt by send_due_digest; the daemon carries on
            if reason := unwritable_reason(error, self.config.storage_url):
                logger.error("digest %s not sent: %s", name, reason)  # a full or read-only store: one line
            else:
                logger.exception("digest %s failed", name)
            attempt = None
        if attempt is not None and attempt.status != "failed":
            logger.info("digest %s: %s (%d articles)", name, attempt.status, attempt.articles_count)
            self._change_schedule(lambda: self._forget_job(f"digest-retry:{name}"))
            return
        retry_at = datetime.now(timezone.utc) + timedelta(seconds=DIGEST_RETRY)
        logger.warning("digest %s failed (%s): trying again at %s", name,
                       attempt.error if attempt is not None else "see above", retry_at.isoformat())
        self._change_schedule(lambda: self.scheduler.add_job(
            self._send_digest, DateTrigger(retry_at), args=[name], id=f"digest-retry:{name}",
            name=f"digest {name} (retry)", replace_existing=True))

    def _change_schedule(self, change: Callable[[], object]) -> None:
        """Add or remove a job from within a job, unless shut-down has closed the schedule.

        APScheduler's `shutdown(wait=True)` holds its job-store lock while it waits for the running jobs
        (3.11: `with self._executors_lock, self._jobstores_lock`), and adding or removing a job takes that
        lock: a job doing so once shut-down has begun waits for the lock, and shut-down for the job,
        forever. An instant digest's look every 5 s made it likely: the daemon hung on SIGTERM. So jobs
        change the schedule under `schedule_lock`, and shut-down closes it under the same lock before it
        calls `shutdown`; a retry it drops is the one the next start's look makes anyway."""
        with self.schedule_lock:
            if not self.schedule_closed:
                change()

    def _forget_job(self, job_id: str) -> None:
        with suppress(JobLookupError):
            self.scheduler.remove_job(job_id)

    def _alert_new_stories(self, name: str) -> None:
        """An instant digest's look: when an article was stored since the last one, send what it owes
        (`_send_digest`: one message per story, a failure tried again later as a digest's)."""
        if self.stopping.is_set():
            return
        try:
            with self.sessions() as session:
                newest = newest_article_id(session)
        except SQLAlchemyError as error:  # the crawls and the heartbeat say the store is down; the next look retries
            logger.debug("instant digest %s: cannot read the store: %s", name, error)
            return
        if name in self.newest_seen and self.newest_seen[name] == newest:
            return
        self.newest_seen[name] = newest
        self._send_digest(name)

    def _schedule_rematch(self, when: datetime) -> None:
        self._change_schedule(lambda: self.scheduler.add_job(
            self._rematch, DateTrigger(when), id="rematch", name="topics rematch", replace_existing=True))

    def _rematch(self) -> None:
        """Re-score the archive against the topics whose definition changed since it was scored, in a
        subprocess (`kuroshio topics rematch`); tried again later if it fails."""
        if self.stopping.is_set():
            return
        try:
            with self.sessions() as session:
                names = [topic.name for topic in topics_to_rematch(session, self.config.topics)]
        except SQLAlchemyError as error:  # the store is down: one line, and a look again later
            self._retry_rematch("the topics", unwritable_reason(error, self.config.storage_url) or str(error))
            return
        if not names:
            return
        command = [sys.executable, "-m", "kuroshio.scheduler", "--log-level", self.log_level]
        if self.config.path is not None:
            command += ["--config", str(self.config.path)]
        command += ["topics", "rematch", "--no-progress"]
        self.rematch_process = process = subprocess.Popen(
            command, env=crawl_environment(self.config, os.environ), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
        logger.info("rematch of topics %s started (pid %d): defined anew since the archive was scored",
                    ", ".join(names), process.pid)
        summary, _ = process.communicate()
        code = process.returncode
        if code != 0:  # killed at shut-down (SIGTERM ends it where it stands), or crashed
            with suppress(SQLAlchemyError), self.sessions() as session:  # else they expire by themselves
                _release_leases_left_by(session, process.pid)
        if code == 0:
            logger.info("rematch of topics %s ended: %s", ", ".join(names), summary.decode(errors="replace").strip())
        elif not self.stopping.is_set():
            busy = "another process is rematching them" if code == EXIT_BUSY else f"exit status {code}"
            self._retry_rematch(f"topics {', '.join(names)}", busy)

    def _retry_rematch(self, what: str, reason: str) -> None:
        retry_at = datetime.now(timezone.utc) + timedelta(seconds=REMATCH_RETRY)
        logger.warning("rematch of %s not done (%s): it resumes at %s", what, reason, retry_at.isoformat())
        self._schedule_rematch(retry_at)

    # --- shut-down ----------------------------------------------------------------------------

    def _shut_down(self) -> None:
        logger.info("stopping: no new runs; waiting up to %.0f s for running crawls",
                    self.config.daemon.shutdown_grace)
        self.scheduler.pause()
        with self.queue_changed:  # the dispatcher sees `stopping`: the sources still queued are not crawled
            self.queue_changed.notify_all()
        self.dispatcher.join()
        with self.crawls_lock:
            running = list(dict.fromkeys(self.crawls.values()))  # a process crawls several sources
        if self.rematch_process is not None and self.rematch_process.poll() is None:
            running.append(self.rematch_process)  # stopped mid-way, it resumes at the next start
        for process in running:
            process.send_signal(signal.SIGTERM)  # Scrapy stops gracefully and records its run
        deadline = datetime.now(timezone.utc) + timedelta(seconds=self.config.daemon.shutdown_grace)
        for process in running:
            remaining = (deadline - datetime.now(timezone.utc)).total_seconds()
            try:
                process.wait(timeout=max(remaining, 0))
            except subprocess.TimeoutExpired:
                logger.warning("crawl pid %d did not stop within the grace period: killed", process.pid)
                process.kill()
                process.wait()
        with self.schedule_lock:  # no job adds or removes one from now on (`_change_schedule`)
            self.schedule_closed = True
        self.scheduler.shutdown(wait=True)
        self.batches.shutdown(wait=True)  # each records the end of the runs its process left open


def crawl_environment(config: Config, environment: Mapping[str, str]) -> dict[str, str]:
    """The environment of a crawl process: what it needs of the daemon's `environment` (an allow-list,
    `CRAWL_ENVIRONMENT`), and the database URL with its password (it writes the store). Never the SMTP
    password, the database password's own variable nor a digest's Apprise URLs (`notify_env`), even under
    an allowed name."""
    kept = {name: value for name, value in environment.items()
            if name in CRAWL_ENVIRONMENT or name.startswith(CRAWL_ENVIRONMENT_PREFIXES)
            or name.lower().endswith("_proxy")}
    secrets = {config.smtp.password_env, config.storage.password_env}
    secrets.update(digest.notify_env for digest in config.digests if digest.notify_env)
    for secret in secrets:
        kept.pop(secret, None)
    return {**kept, "KUROSHIO_DATABASE_URL": config.storage_url}


def _interval(trigger: BaseTrigger, now: datetime) -> float:
    """Seconds between a source's regular runs, for a cron source the time from `now` to its next one:
    a staggered first run is never put later than that (it would stand in for a regular run)."""
    if isinstance(trigger, IntervalTrigger):
        return trigger.interval.total_seconds()
    following = trigger.get_next_fire_time(None, now)
    return (following - now).total_seconds() if following is not None else 0.0


def _log_failure(batch: futures.Future[None]) -> None:
    """A crawl's thread that raised (the store refused to end its runs, say) says so, as APScheduler would
    of a job: an executor keeps the exception to itself."""
    if (error := batch.exception()) is not None:
        logger.error("crawl thread failed", exc_info=error)


def _release_leases_left_by(session: Session, pid: int) -> None:
    """Give back the leases of a crawl or rematch process that ended without (killed, crashed), so the next
    one does not have to take them over."""
    for name in release_leases_of_process(session, pid):
        logger.info("released lease %s, left by pid %d", name, pid)


def _terminate(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM, then SIGKILL if it lingers; the exit status."""
    process.terminate()
    try:
        return process.wait(timeout=KILL_WAIT)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def run_daemon(config: Config, *, log_level: str) -> int:
    """Entry point of `kuroshio daemon`."""
    return Daemon(config, log_level=log_level).run()


def daemon_state(sessions: sessionmaker[Session]) -> tuple[Holder | None, bool]:
    """The daemon lease's holder (or None) and whether it is alive, for `kuroshio status`."""
    with sessions() as session:
        current = holder(session, DAEMON_LEASE)
    return current, bool(current and current.alive())

