"""Crawls as Scrapyd jobs on other machines: the daemon's dispatch when `[scale] scrapyd` names nodes.

Each due source becomes one job (`schedule.json`, spider `kuroshio`, `-a source=NAME`) on the node with
the fewest jobs pending and running (`daemonstatus.json`; ties taken in turn), and the daemon follows its
jobs (`listjobs.json`) until each has ended. The job frames its own crawl — lease, run record, counts
(`kuroshio.scheduler.scrapyd_job`) — against the PostgreSQL store every node shares, so one crawl per
source at a time holds across nodes: a job whose source is crawled elsewhere ends recording nothing.

What can go wrong, and what is done:
- A node that refuses a job, cannot be reached or answers nonsense is left out for `NODE_RETRY` seconds
  (one log line when it goes, one when it is back) and the job goes to another node; with no node left,
  the source waits for its next tick (logged).
- A job that vanished — its node went down, or no longer lists it (Scrapyd restarted) — is judged by its
  run record: a run finished is done; a run whose lease is still renewed is still crawling (a node the
  daemon cannot reach may still reach the store), and is waited for; a run whose process is gone is
  marked `interrupted` by the dead-run rule (`kuroshio.scheduler.dead_runs`: its pid seen dead on this
  host, or its lease expired) and the source is dispatched again, to another node; a job that never
  recorded a run is dispatched again at once.
- A job still running after `daemon.crawl_timeout` is cancelled (Scrapy stops gracefully), killed
  `KILL_WAIT` seconds later if it lingers; its run is recorded `failed` ("timed out after …") and its lease
  given back at the cancel, so `kuroshio runs` says so at once (the job's own end, if it still comes, adds
  its counts to that record).
- When the daemon stops, its jobs are cancelled the same way and waited for up to `daemon.shutdown_grace`
  (a job records its own run `interrupted`); a job still going then is killed, and its run recorded
  `interrupted` and its lease given back by the daemon.

Nothing is stored twice whatever happens: the lease keeps two crawls of a source apart, and a crawl
dispatched again stores only what the store does not know.

Scrapyd's API has no authentication: see README, "Running on several machines".
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from kuroshio.scheduler.dead_runs import mark_dead_runs
from kuroshio.scheduler.locks import crawl_lease, holder, release
from kuroshio.scheduler.scrapyd_job import SPIDER_NAME
from kuroshio.storage.runs import end_run, run_of_job

logger = logging.getLogger(__name__)

PROJECT = "kuroshio"  # the Scrapyd project contrib/scrapyd deploys
POLL_INTERVAL = 2.0  # seconds between looks at the jobs
NODE_RETRY = 60.0  # seconds a node that failed is left out of dispatch
HTTP_TIMEOUT = 10.0  # seconds for one request to a node
KILL_WAIT = 10.0  # seconds between cancelling a job and killing it


class NodeError(Exception):
    """A node did not do what it was asked: unreachable, or it answered with an error."""


class ScrapydClient:
    """Scrapyd's JSON API, one request at a time (https://scrapyd.readthedocs.io/en/latest/api.html)."""

    def __init__(self, *, timeout: float = HTTP_TIMEOUT) -> None:
        self.timeout = timeout

    def schedule(self, node: str, *, source: str, job: str) -> None:
        """Queue a crawl of `source` on `node` as job `job`."""
        self._call(node, "schedule.json", {"project": PROJECT, "spider": SPIDER_NAME, "jobid": job,
                                           "source": source, "node": node})

    def jobs(self, node: str) -> dict[str, str]:
        """Every job of the project `node` knows of, by id: 'pending', 'running' or 'finished'."""
        answer = self._call(node, "listjobs.json?" + urllib.parse.urlencode({"project": PROJECT}))
        return {job["id"]: state for state in ("pending", "running", "finished") for job in answer.get(state, [])}

    def load(self, node: str) -> int:
        """How many jobs `node` has pending and running, of every project."""
        answer = self._call(node, "daemonstatus.json")
        return int(answer.get("pending", 0)) + int(answer.get("running", 0))

    def cancel(self, node: str, job: str, *, signal: str = "INT") -> None:
        """Cancel job `job` on `node`: a pending one is dropped, a running one gets `signal`."""
        self._call(node, "cancel.json", {"project": PROJECT, "job": job, "signal": signal})

    def _call(self, node: str, endpoint: str, form: dict[str, str] | None = None) -> dict[str, Any]:
        url = node.rstrip("/") + "/" + endpoint
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        try:
            with urllib.request.urlopen(url, data=data, timeout=self.timeout) as response:
                answer = json.loads(response.read())
        except (OSError, ValueError) as error:  # URLError, HTTPError, timeouts, a body that is no JSON
            raise NodeError(str(getattr(error, "reason", None) or error)) from None
        if not isinstance(answer, dict) or answer.get("status") != "ok":
            message = answer.get("message") if isinstance(answer, dict) else answer
            raise NodeError(f"{endpoint}: {str(message).strip()[:300]}")
        return answer


@dataclass
class Job:
    """A crawl of one source dispatched to a node."""

    source: str
    node: str
    id: str
    dispatched_at: float  # monotonic
    cancelled_at: float | None = None
    killed: bool = False
    tried: set[str] = field(default_factory=set)  # nodes it was lost on, not tried again for this tick


class ScrapydDispatcher:
    """Runs crawls of sources as jobs on Scrapyd nodes, and follows them to their end (thread-safe:
    the daemon's crawl threads call `crawl` at once)."""

    def __init__(self, nodes: Sequence[str], sessions: sessionmaker[Session], *, stopping: threading.Event,
                 crawl_timeout: float, shutdown_grace: float, client: ScrapydClient | None = None,
                 poll_interval: float = POLL_INTERVAL, node_retry: float = NODE_RETRY,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.nodes = list(nodes)
        self.sessions = sessions
        self.stopping = stopping
        self.crawl_timeout = crawl_timeout
        self.shutdown_grace = shutdown_grace
        self.client = client or ScrapydClient()
        self.poll_interval = poll_interval
        self.node_retry = node_retry
        self.clock = clock
        self._lock = threading.Lock()
        self._down_until: dict[str, float] = {}  # node → when it may be tried again
        self._turn = itertools.count()

    def crawl(self, sources: Sequence[str]) -> None:
        """Crawl each of `sources` as a job, and return once each has ended (or found no node)."""
        jobs: list[Job] = []
        for source in sources:
            if (job := self._dispatch(source, avoid=set())) is not None:
                jobs.append(job)
        stop_deadline: float | None = None
        while jobs:
            if self.stopping.wait(self.poll_interval) and stop_deadline is None:
                stop_deadline = self.clock() + self.shutdown_grace
                for job in jobs:
                    self._cancel(job, signal="INT")
            jobs = self._follow(jobs, stopping=stop_deadline is not None)
            if stop_deadline is not None and self.clock() >= stop_deadline:
                for job in jobs:
                    logger.warning("job %s (%s) on %s did not stop within the grace period: killed",
                                   job.id, job.source, job.node)
                    self._cancel(job, signal="KILL")
                    self._end_run(job, "interrupted", "daemon shut down during the crawl")
                return

    def _follow(self, jobs: list[Job], *, stopping: bool) -> list[Job]:
        """One look at `jobs`: those still going (a job lost is replaced by its dispatch elsewhere)."""
        states: dict[str, dict[str, str] | None] = {}
        for node in {job.node for job in jobs}:
            try:
                states[node] = self.client.jobs(node)
            except NodeError as error:
                self._node_failed(node, error)
                states[node] = None
            else:
                self._node_answered(node)
        going = []
        for job in jobs:
            node_jobs = states[job.node]
            state = node_jobs.get(job.id) if node_jobs is not None else None
            if state in ("pending", "running"):
                if not stopping:  # stopping, the grace period rules: not the time limit's KILL_WAIT
                    self._mind_time_limit(job)
                going.append(job)
            elif state == "finished":
                self._ended(job)
            elif self._lost(job, node_reached=node_jobs is not None) and not stopping:
                job.tried.add(job.node)
                if (again := self._dispatch(job.source, avoid=job.tried)) is not None:
                    again.tried |= job.tried
                    going.append(again)
            elif not self._settled(job):
                going.append(job)  # its run still renews its lease: the crawl goes on where the daemon cannot see
        return going

    def _dispatch(self, source: str, *, avoid: set[str]) -> Job | None:
        """Schedule a crawl of `source` on the least busy node up, not one of `avoid`; None when none took it."""
        for node in self._nodes_by_load(avoid):
            job = Job(source, node, uuid.uuid4().hex, self.clock())
            try:
                self.client.schedule(node, source=source, job=job.id)
            except NodeError as error:
                self._node_failed(node, error)
                continue
            logger.info("crawl of %s dispatched to %s (job %s)", source, node, job.id)
            return job
        logger.error("crawl of %s not dispatched: no Scrapyd node is up (%s); the next scheduled run tries "
                     "again", source, ", ".join(self.nodes))
        return None

    def _nodes_by_load(self, avoid: set[str]) -> list[str]:
        """The nodes up and not avoided, fewest jobs first, taking turns among equals."""
        with self._lock:
            now = self.clock()
            candidates = [node for node in self.nodes
                          if node not in avoid and self._down_until.get(node, 0.0) <= now]
            turn = next(self._turn)
        loads: dict[str, int] = {}
        for node in candidates:
            try:
                loads[node] = self.client.load(node)
            except NodeError as error:
                self._node_failed(node, error)
        rotated = candidates[turn % len(candidates):] + candidates[:turn % len(candidates)] if candidates else []
        return sorted((node for node in rotated if node in loads), key=lambda node: loads[node])

    def _node_failed(self, node: str, error: NodeError) -> None:
        with self._lock:
            was_up = node not in self._down_until
            self._down_until[node] = self.clock() + self.node_retry
        if was_up:
            logger.error("Scrapyd node %s failed (%s): left out for %.0f s", node, error, self.node_retry)

    def _node_answered(self, node: str) -> None:
        with self._lock:
            was_down = self._down_until.pop(node, None) is not None
        if was_down:
            logger.warning("Scrapyd node %s answers again", node)

    def _mind_time_limit(self, job: Job) -> None:
        """Cancel a job that outlived `daemon.crawl_timeout`; kill it if it lingers."""
        now = self.clock()
        if job.cancelled_at is None and now - job.dispatched_at > self.crawl_timeout:
            logger.error("crawl of %s on %s (job %s) outlived its %.0f s time limit: cancelled", job.source,
                         job.node, job.id, self.crawl_timeout)
            self._cancel(job, signal="TERM")
            self._end_run(job, "failed", f"timed out after {self.crawl_timeout:.0f} s")
        elif job.cancelled_at is not None and not job.killed and now - job.cancelled_at > KILL_WAIT:
            self._cancel(job, signal="KILL")
            job.killed = True
            self._end_run(job, "failed", f"timed out after {self.crawl_timeout:.0f} s")  # if it started since

    def _cancel(self, job: Job, *, signal: str) -> None:
        job.cancelled_at = job.cancelled_at or self.clock()
        try:
            self.client.cancel(job.node, job.id, signal=signal)
        except NodeError as error:
            logger.warning("could not cancel job %s (%s) on %s: %s", job.id, job.source, job.node, error)

    def _end_run(self, job: Job, status: str, message: str) -> None:
        """Record the end of a job the daemon cancelled, and give back the lease its crawl holds, rather than
        leave both to the job (it may be killed) or to the lease's expiry. A job that recorded no run yet
        has nothing to end: cancelled pending, it never starts."""
        with self.sessions() as session:
            run = run_of_job(session, job.id)
            if run is None:
                return
            crawler = (run.host, run.pid)
            if not end_run(session, run.id, status=status, message=message, now=datetime.now(timezone.utc)):
                return
            lease = holder(session, crawl_lease(job.source))
            if lease is not None and (lease.host, lease.pid) == crawler:  # the job's, not a later crawl's
                release(session, lease.name, owner=lease.owner)
                logger.info("released lease %s of job %s on %s", lease.name, job.id, job.node)

    def _ended(self, job: Job) -> None:
        """Say how a finished job's run ended; a job that recorded none found its source crawled elsewhere
        (or failed before it could: its log on the node says)."""
        with self.sessions() as session:
            run = run_of_job(session, job.id)
            status = run.status if run is not None else None
        if status is None:
            logger.warning("crawl of %s on %s (job %s) ended without a run: another process held its lease, or "
                           "the job failed before it started (see its log on the node)", job.source, job.node, job.id)
        else:
            logger.info("crawl of %s on %s (job %s) ended: %s", job.source, job.node, job.id, status)

    def _lost(self, job: Job, *, node_reached: bool) -> bool:
        """Whether the job's crawl is gone without finishing (to dispatch again): no run, or a run whose
        process is dead (then marked `interrupted`)."""
        mark_dead_runs(self.sessions)
        with self.sessions() as session:
            run = run_of_job(session, job.id)
            status = run.status if run is not None else None
        where = f"{job.node} no longer lists it" if node_reached else f"{job.node} is down"
        if status is None or status == "interrupted":
            logger.warning("crawl of %s (job %s) lost: %s; %s", job.source, job.id, where,
                           "its run was interrupted" if status else "it recorded no run")
            return True
        return False

    def _settled(self, job: Job) -> bool:
        """Whether the job's run has ended (a job its node no longer shows, whose run is not lost)."""
        with self.sessions() as session:
            run = run_of_job(session, job.id)
            return run is not None and run.status != "running"
