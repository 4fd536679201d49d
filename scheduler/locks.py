"""Leases in the database: one daemon per database, one crawl per source, none stuck after a kill.

A lease is a row naming its holder and an expiry. The holder renews it (`LeaseKeeper`) while it
works; a holder that was SIGKILLed stops renewing, so another process may take the lease once it has
expired — or at once on the same host, where the holder's pid is seen to be gone. The database is
the only thing every process shares (the daemon, a one-off `kuroshio crawl` in another shell, the
crawl subprocesses), so it is where they coordinate. A store that cannot take writes (full,
read-only) stops renewals, not the holder: the keeper says so once, keeps trying, and says when
renewals succeed again.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from kuroshio.storage.engine import unwritable_reason, write_transaction
from kuroshio.storage.models import Lease

logger = logging.getLogger(__name__)

DAEMON_LEASE = "daemon"
HOST = socket.gethostname()


CRAWL_LEASE_TTL = 60.0
"""Seconds a crawl's lease on its source lasts unless renewed: a crawl renews it while it runs, so a
crawl that died frees its source within a minute, on any host sharing the store."""


def crawl_lease(source: str) -> str:
    """The lease name that guards crawls of `source`."""
    return f"crawl:{source}"


@dataclass(frozen=True)
class Holder:
    """Who holds a lease, and until when."""

    name: str
    owner: str
    host: str
    pid: int
    acquired_at: datetime
    renewed_at: datetime
    expires_at: datetime
    info: dict[str, Any]

    def alive(self, now: datetime | None = None) -> bool:
        """Whether the lease still binds: unexpired, and its process not seen dead on this host."""
        now = now or datetime.now(timezone.utc)
        if self.host == HOST and not pid_alive(self.pid):
            return False
        return self.expires_at > now

    def describe(self) -> str:
        """The holder in words, for an operator."""
        return (f"pid {self.pid} on {self.host} since {self.acquired_at.isoformat(timespec='seconds')} "
                f"(lease renewed {self.renewed_at.isoformat(timespec='seconds')})")


class LeaseHeld(Exception):
    """The lease is held by a live holder."""

    def __init__(self, holder: Holder) -> None:
        super().__init__(f"{holder.name} is held by {holder.describe()}")
        self.holder = holder


def pid_alive(pid: int) -> bool:
    """Whether a process with `pid` runs on this host (a zombie counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def new_owner() -> str:
    """A token unique to one holding, so a process never mistakes another's lease for its own."""
    return f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def acquire(
    session: Session, name: str, *, owner: str, ttl: float, info: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> None:
    """Take lease `name` for `ttl` seconds, or raise LeaseHeld naming its live holder."""
    now = now or datetime.now(timezone.utc)
    with write_transaction(session):
        row = session.scalar(select(Lease).where(Lease.name == name).with_for_update())
        if row is not None:
            current = _holder(row)
            if current.alive(now) and current.owner != owner:
                raise LeaseHeld(current)
            if current.owner != owner:
                logger.warning("taking over %s from %s: its holder is gone", name, current.describe())
            session.delete(row)
            session.flush()
        try:
            with session.begin_nested():
                session.add(Lease(name=name, owner=owner, host=HOST, pid=os.getpid(), acquired_at=now,
                                  renewed_at=now, expires_at=now + timedelta(seconds=ttl), info=info or {}))
        except IntegrityError:  # another process took it between our read and our insert
            row = session.scalars(select(Lease).where(Lease.name == name)).one()
            raise LeaseHeld(_holder(row)) from None


def renew(
    session: Session, name: str, *, owner: str, ttl: float, info: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> bool:
    """Extend our lease; False when it is no longer ours (it expired and was taken over)."""
    now = now or datetime.now(timezone.utc)
    with write_transaction(session):
        row = session.scalar(select(Lease).where(Lease.name == name, Lease.owner == owner).with_for_update())
        if row is None:
            return False
        row.renewed_at = now
        row.expires_at = now + timedelta(seconds=ttl)
        if info is not None:
            row.info = info
        return True


def release(session: Session, name: str, *, owner: str) -> None:
    """Give our lease up (no-op when it is not ours any more)."""
    with write_transaction(session):
        row = session.scalar(select(Lease).where(Lease.name == name, Lease.owner == owner))
        if row is not None:
            session.delete(row)


def release_leases_of_process(session: Session, pid: int) -> list[str]:
    """Give up every lease that process `pid` of this host left when it ended (killed, or crashed) and
    return their names. Only for a process known to be gone — the daemon's own crawl and rematch
    processes, once it has waited for them — so that the next holder neither waits for the lease to
    expire nor has to take it over."""
    with write_transaction(session):
        rows = session.scalars(select(Lease).where(Lease.host == HOST, Lease.pid == pid).with_for_update()).all()
        for row in rows:
            session.delete(row)
        return sorted(row.name for row in rows)


def holder(session: Session, name: str) -> Holder | None:
    """The recorded holder of lease `name`, alive or not."""
    row = session.scalar(select(Lease).where(Lease.name == name))
    return _holder(row) if row is not None else None


def _holder(row: Lease) -> Holder:
    return Holder(row.name, row.owner, row.host, row.pid, row.acquired_at, row.renewed_at, row.expires_at,
                  dict(row.info or {}))


class LeaseKeeper:
    """Holds leases for as long as a piece of work runs, renewing them from a background thread.

    `on_lost` is called (from the keeper's thread) if a lease is lost — the work must then stop, as
    another process may already be doing it.
    """

    def __init__(
        self, sessions: sessionmaker[Session], names: list[str], *, ttl: float,
        info: Callable[[], dict[str, Any]] | None = None, on_lost: Callable[[str], None] | None = None,
    ) -> None:
        self.sessions = sessions
        self.names = names
        self.ttl = ttl
        self.owner = new_owner()
        self.info = info
        self.on_lost = on_lost
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew_until_stopped, name="lease-keeper", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        acquired: list[str] = []
        try:
            with self.sessions() as session:
                for name in self.names:
                    acquire(session, name, owner=self.owner, ttl=self.ttl, info=self._info())
                    acquired.append(name)
        except BaseException:
            self._release(acquired)
            raise
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self._release(self.names)

    def renew_now(self) -> None:
        """Renew at once (e.g. to publish fresh `info`)."""
        with self.sessions() as session:
            for name in self.names:
                if not renew(session, name, owner=self.owner, ttl=self.ttl, info=self._info()) and self.on_lost:
                    self.on_lost(name)

    def _info(self) -> dict[str, Any] | None:
        return self.info() if self.info else None

    def _renew_until_stopped(self) -> None:
        failed_since: datetime | None = None
        while not self._stop.wait(self.ttl / 3):
            try:
                self.renew_now()
            except Exception as error:  # the database is down, full or read-only: keep trying, say it once
                if failed_since is None:
                    failed_since = datetime.now(timezone.utc)
                    self._log_failure(error, f"could not renew leases {', '.join(self.names)}",
                                      f"trying again every {self.ttl / 3:.0f} s")
                continue
            if failed_since is not None:
                logger.warning("leases %s renewed again, after failing since %s", ", ".join(self.names),
                               failed_since.isoformat(timespec="seconds"))
                failed_since = None

    def _release(self, names: list[str]) -> None:
        try:
            with self.sessions() as session:
                for name in names:
                    release(session, name, owner=self.owner)
        except Exception as error:
            self._log_failure(error, f"could not release leases {', '.join(names)}", "they expire by themselves")

    def _log_failure(self, error: Exception, what: str, then: str) -> None:
        """One line for a store that cannot take writes (the operator's fix is space or permissions); a
        traceback for anything else, which may be a bug."""
        reason = unwritable_reason(error, self.sessions.kw["bind"].url)
        if reason is None:
            logger.exception("%s; %s", what, then)
        else:
            logger.error("%s: %s; %s", what, reason, then)
