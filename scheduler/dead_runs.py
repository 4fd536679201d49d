"""Crawl runs left `running` by a process that is gone are marked `interrupted` by whoever looks.

A crawl records its run `running` before it fetches and finishes it after, so a crawl that was
SIGKILLed (or OOM-killed, or cut by a power loss) leaves its row `running`. The daemon marks such runs
at its start; without a daemon they would show `running` for ever. So `kuroshio crawl`, `status`,
`runs` and `sources` mark them too, before they start or show anything.

A run's process is gone when no live holder of a crawl lease is that process (`locks.Holder.alive`:
unexpired, and not seen dead on its host) and, for a run of this host, its pid is not alive here
(`locks.pid_alive`). A run names the host it runs on (a Scrapyd job's runs on its node's, see
`kuroshio.scheduler.scale`), so a pid on another host is never looked up here. Every crawl holds its
source's lease while its run is open, so a crawl on another host sharing a PostgreSQL store is not taken
for dead while it renews its lease, and is once the lease has expired. A run recorded before runs named
their host is taken for this host's.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

import click
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from kuroshio.scheduler.config import Config
from kuroshio.scheduler.locks import HOST, crawl_lease, holder, pid_alive
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
        processes = session.execute(select(CrawlRun.pid, CrawlRun.host)
                                    .where(CrawlRun.status == "running", CrawlRun.pid.is_not(None))).all()
        alive = _process_alive(session, now)
        if all(alive(pid, host) for pid, host in processes if pid is not None):
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


def _process_alive(session: Session, now: datetime) -> Callable[[int, str | None], bool]:
    """Whether the crawl process `pid` of `host` still runs: alive here when it is this host's, or a live
    crawl lease holder. The leases are read once, when first needed (inside the caller's transaction)."""
    live_holders: set[tuple[str, int]] | None = None

    def alive(pid: int, host: str | None) -> bool:
        nonlocal live_holders
        if host in (None, HOST) and pid_alive(pid):
            return True
        if live_holders is None:
            names = session.scalars(select(Lease.name).where(Lease.name.startswith(crawl_lease("")))).all()
            holders = [holder(session, name) for name in names]
            live_holders = {(current.host, current.pid) for current in holders
                            if current is not None and current.alive(now)}
        if host is None:  # recorded before runs named their host: any holder with its pid
            return any(holder_pid == pid for _, holder_pid in live_holders)
        return (host, pid) in live_holders

    return alive
