"""Crawl runs left `running` by a process that is gone are marked `interrupted` by whoever looks.

A crawl records its run `running` before it fetches and finishes it after, so a crawl that was
SIGKILLed (or OOM-killed, or cut by a power loss) leaves its row `running`. The daemon marks such runs
at its start; without a daemon they would show `running` for ever. So `kuroshio crawl`, `status`,
`runs` and `sources` mark them too, before they start or show anything.

A run's process is gone when its pid is not alive on this host (`locks.pid_alive`) and no live holder
of a crawl lease has that pid (`locks.Holder.alive`: unexpired, and not seen dead on its host). Every
crawl holds its source's lease while its run is open, so a crawl on another host sharing a PostgreSQL
store is not taken for dead while it renews its lease, and is once the lease has expired.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

import click
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from kuroshio.scheduler.config import Config
from kuroshio.scheduler.locks import crawl_lease, holder, pid_alive
from kuroshio.storage.engine import unwritable_reason
from kuroshio.storage.models import CrawlRun, Lease
from kuroshio.storage.runs import mark_interrupted_runs


def mark_dead_runs(sessions: sessionmaker[Session], *, now: datetime | None = None) -> int:
    """Mark `interrupted` every run left `running` by a process that is gone; returns how many.

    Only when a read finds one does it write (a store that takes no writes can still be looked at), and
    the write decides again inside its own transaction, where no crawl can finish or start a run.
    """
    now = now or datetime.now(timezone.utc)
    with sessions() as session:
        pids = session.scalars(select(CrawlRun.pid).where(CrawlRun.status == "running", CrawlRun.pid.is_not(None)))
        alive = _process_alive(session, now)
        if all(alive(pid) for pid in pids.all() if pid is not None):
            return 0
    with sessions() as session:
        return mark_interrupted_runs(session, alive=_process_alive(session, now), now=now)


def mark_dead_runs_reported(config: Config, sessions: sessionmaker[Session]) -> None:
    """`mark_dead_runs` for a reading command (`status`, `runs`, `sources`): a store that refuses the
    write is said in one line on stderr, and what is recorded is shown all the same."""
    try:
        mark_dead_runs(sessions)
    except SQLAlchemyError as error:
        if (reason := unwritable_reason(error, config.storage_url)) is None:
            raise
        click.echo(f"kuroshio: runs left by dead processes not marked interrupted: {reason}", err=True)


def _process_alive(session: Session, now: datetime) -> Callable[[int], bool]:
    """Whether the crawl process with a pid still runs: on this host, or as a live crawl lease holder.
    The leases are read once, when first needed (inside the caller's transaction)."""
    holder_pids: set[int] | None = None

    def alive(pid: int) -> bool:
        nonlocal holder_pids
        if pid_alive(pid):
            return True
        if holder_pids is None:
            names = session.scalars(select(Lease.name).where(Lease.name.startswith(crawl_lease("")))).all()
            holders = [holder(session, name) for name in names]
            holder_pids = {current.pid for current in holders if current is not None and current.alive(now)}
        return pid in holder_pids

    return alive
