"""The sources articles and runs belong to: a row per configured source name, made on first use."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kuroshio.storage.engine import write_transaction
from kuroshio.storage.models import (
    Source,
)

logger = logging.getLogger(__name__)


def ensure_source(session: Session, name: str) -> Source:
    """The source called `name`, created if it does not exist yet."""
    with write_transaction(session):
        return add_source_if_missing(session, name)


def add_source_if_missing(session: Session, name: str) -> Source:
    source = session.scalar(select(Source).where(Source.name == name))
    if source is not None:
        return source
    try:
        with session.begin_nested():
            source = Source(name=name)
            session.add(source)
        return source
    except IntegrityError:  # another writer created it since our SELECT
        return session.scalars(select(Source).where(Source.name == name)).one()


def source_names(session: Session) -> list[str]:
    """The name of every source with runs or articles stored, sorted."""
    return list(session.scalars(select(Source.name).order_by(Source.name)))
