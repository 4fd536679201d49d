"""Timestamps as the store keeps them: aware, in UTC; a naive one is refused before any write."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

logger = logging.getLogger(__name__)


def require_aware(value: datetime | None, name: str) -> None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")

def aware_or_now(value: datetime | None) -> datetime:
    """`value` (or the current time) in UTC, as the store keeps it."""
    if value is None:
        return datetime.now(timezone.utc)
    require_aware(value, "now")
    return value.astimezone(timezone.utc)

def utc_offset_minutes(value: datetime | None) -> int | None:
    offset = value.utcoffset() if value is not None else None
    return None if offset is None else round(offset.total_seconds() / 60)
