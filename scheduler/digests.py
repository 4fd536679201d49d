"""Sending a configured digest as the scheduler does it: one process at a time, on the configured store.

`kuroshio digest --send` and the daemon's digest jobs both come here. The sender holds the lease
`digest:<name>` (`kuroshio.scheduler.locks`) while it composes, sends and marks, so two processes never
send one digest at once; a killed sender's lease expires after `DIGEST_LEASE_TTL`, and its attempt is
recorded as interrupted by the next one. What sending means (exactly once, as far as SMTP allows) is
`kuroshio.digest.send`'s.
"""

from __future__ import annotations

import ssl
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from kuroshio.digest.options import DigestConfig
from kuroshio.digest.send import send_digest
from kuroshio.scheduler.config import Config
from kuroshio.scheduler.locks import LeaseKeeper
from kuroshio.storage.engine import create_engine_for, session_factory, upgrade_schema
from kuroshio.storage.models import DigestAttempt

# Renewed every third of this while a digest is being sent; a killed sender's lease expires after it.
DIGEST_LEASE_TTL = 120.0


def digest_lease(name: str) -> str:
    """The lease name that guards sending digest `name`."""
    return f"digest:{name}"


def send_due_digest(
    config: Config,
    digest: DigestConfig,
    *,
    now: datetime | None = None,
    since: datetime | None = None,
    sessions: sessionmaker[Session] | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> DigestAttempt:
    """Send what `digest` owes (`kuroshio.digest.send.send_digest`) while holding its lease.

    Raises `kuroshio.scheduler.locks.LeaseHeld` when another live process is sending the same digest.
    `sessions` defaults to the configured database (schema upgraded first).
    """
    if sessions is None:
        engine = create_engine_for(config.storage_url)
        try:
            upgrade_schema(engine)
            return send_due_digest(config, digest, now=now, since=since, sessions=session_factory(engine),
                                   ssl_context=ssl_context)
        finally:
            engine.dispose()
    with LeaseKeeper(sessions, [digest_lease(digest.name)], ttl=DIGEST_LEASE_TTL):
        return send_digest(digest, sessions, smtp=config.smtp, source_names=config.source_names,
                           topic_names=config.topic_names, now=now, since=since, ssl_context=ssl_context)
