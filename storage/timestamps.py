"""Timestamps as the store keeps them: aware, in UTC. A naive one is refused before any write.

The store reads no clock: every write that records a time is handed it (`now`) by its caller — the
crawl, the daemon, the digest sender — so what it records is what they decided, and tests pin it.
"""

from __future__ import annotations

from datetime import datetime, timezone


def require_aware(value: datetime | None, name: str) -> None:
    """Refuse a naive datetime: the store could only guess its zone."""
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")


def as_stored(value: datetime, name: str = "now") -> datetime:
    """`value` in UTC, as the store keeps it (refused when naive)."""
    require_aware(value, name)
    return value.astimezone(timezone.utc)


def utc_offset_minutes(value: datetime | None) -> int | None:
    """The UTC offset of `value` in minutes (None without a date or a zone): kept to show it as published."""
    offset = value.utcoffset() if value is not None else None
    return None if offset is None else round(offset.total_seconds() / 60)
