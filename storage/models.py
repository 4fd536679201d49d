"""The archive's tables as SQLAlchemy models.

The schema itself is created by the hand-written migrations in `storage/migrations/`; these models must
match them (`tests/storage/test_migrations.py` compares the two). Every timestamp is stored in UTC and comes
back as an aware datetime on every backend; `Article.published_utc_offset` keeps the publisher's own
offset so output can show the date the way the publisher did.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ColumnElement,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    func,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

RUN_STATUSES = ("running", "ok", "failed", "interrupted")

# Deterministic constraint names, so that migrations can refer to them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}



# Sizes of what is stored: PostgreSQL enforces a column's size, SQLite would not, so writers check first.
MAX_URL_LENGTH = 2048
MAX_ERROR_REASON_CHARS = 500

class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC; refuses naive datetimes and always returns aware UTC ones.

    SQLite keeps no offset, so values are normalised to UTC on the way in and tagged UTC on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} refused: timestamps must carry an offset")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    """Declarative base carrying the shared metadata and naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), list[Any]: JSON(), list[str]: JSON()}


class Source(Base):
    """A publisher, by the name the crawler knows it by."""

    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)


class Article(Base):
    """One article, however many URLs it was seen under."""

    __tablename__ = "articles"

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"), index=True)
    url: Mapped[str] = mapped_column(String(MAX_URL_LENGTH), unique=True)
    canonical_url: Mapped[str] = mapped_column(String(MAX_URL_LENGTH))
    title: Mapped[str] = mapped_column(Text)
    authors: Mapped[list[str]] = mapped_column(default=list)
    published_at: Mapped[datetime | None] = mapped_column(index=True)
    published_utc_offset: Mapped[int | None] = mapped_column(Integer)
    language: Mapped[str | None] = mapped_column(String(35))
    text: Mapped[str] = mapped_column(Text)
    # The page showed only part of the article (a paywall, an archive teaser): `text` is its lead.
    # A server default only, so rows written without it (as before migration 0006) are whole articles.
    partial: Mapped[bool] = mapped_column(Boolean, server_default=false())
    content_sha256: Mapped[str] = mapped_column(String(64), index=True)
    first_seen_at: Mapped[datetime] = mapped_column(index=True)
    crawl_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("crawl_runs.id", ondelete="SET NULL"), index=True
    )

    source: Mapped[Source] = relationship(lazy="joined", innerjoin=True)
    urls: Mapped[list[ArticleURL]] = relationship(
        back_populates="article", cascade="all, delete-orphan", passive_deletes=True, lazy="selectin"
    )
    topic_matches: Mapped[list[ArticleTopic]] = relationship(
        back_populates="article",
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="selectin",
        order_by=lambda: (ArticleTopic.score.desc(), ArticleTopic.topic),
    )


def effective_date() -> ColumnElement[datetime]:
    """When an article dates from: its publication time, or when we first saw it if it has none.

    `kuroshio.storage.articles` and `kuroshio.storage.digests` filter and sort listings and digests by it. A planner uses an expression index
    only for the very same expression, so the index below and the queries both build it here
    (tests/storage/test_reading_indexes.py checks the plans).
    """
    return func.coalesce(Article.published_at, Article.first_seen_at)


Index("ix_articles_effective_date", effective_date())


class ArticleURL(Base):
    """A URL under which an article was seen (its primary URL included)."""

    __tablename__ = "article_urls"

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(MAX_URL_LENGTH), unique=True)

    article: Mapped[Article] = relationship(back_populates="urls")


class ArticleTopic(Base):
    """One topic an article matched (the stored form of `kuroshio.storage.records.TopicMatch`)."""

    __tablename__ = "topic_matches"

    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    topic: Mapped[str] = mapped_column(String(200), primary_key=True, index=True)
    score: Mapped[float] = mapped_column(Float)
    terms: Mapped[list[str]] = mapped_column(default=list)
    # When a rematch (`kuroshio topics rematch`) found this match; None when the crawl that stored the
    # article did. A digest does not owe the old articles a rematch newly matched (`storage/digests.py`).
    rematched_at: Mapped[datetime | None]

    article: Mapped[Article] = relationship(back_populates="topic_matches")


class TopicDefinition(Base):
    """The definition of a topic the stored matches reflect, and how far re-scoring them has come.

    `fingerprint` identifies a definition (`kuroshio.storage.topic_definitions.definition_fingerprint`);
    a configured topic whose fingerprint differs has matches made by another definition. A rematch of
    the current definition has re-scored every article up to `rematched_through` (so an interrupted one
    resumes there), and finished at `matched_at`; the counts are what it changed so far.
    """

    __tablename__ = "topic_definitions"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    rematch_started_at: Mapped[datetime]
    rematched_through: Mapped[int] = mapped_column(Integer, default=0)
    matched_at: Mapped[datetime | None]
    added: Mapped[int] = mapped_column(Integer, default=0)
    removed: Mapped[int] = mapped_column(Integer, default=0)
    changed: Mapped[int] = mapped_column(Integer, default=0)


class CrawlRun(Base):
    """One crawl of one source: when, how it ended, and what it found."""

    __tablename__ = "crawl_runs"
    __table_args__ = (
        CheckConstraint(
            "status IN ('running', 'ok', 'failed', 'interrupted')", name="status"
        ),
        Index("ix_crawl_runs_source_id_started_at", "source_id", "started_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16), index=True)
    pages_fetched: Mapped[int] = mapped_column(default=0)
    articles_new: Mapped[int] = mapped_column(default=0)
    articles_relevant: Mapped[int] = mapped_column(default=0)
    duplicates_skipped: Mapped[int] = mapped_column(default=0)
    errors_count: Mapped[int] = mapped_column(default=0)
    errors: Mapped[list[Any]] = mapped_column(default=list)
    message: Mapped[str | None] = mapped_column(Text)
    pid: Mapped[int | None]
    # Discovery documents (feeds, sitemaps, listing pages, robots.txt) that answered 304 Not Modified.
    not_modified: Mapped[int] = mapped_column(Integer, server_default="0")
    # Where the crawl ran: the host of its process (its pid means something only there), and for a
    # Scrapyd job its node's URL and job id (`kuroshio.scheduler.scale`); NULL for runs before 0011.
    host: Mapped[str | None] = mapped_column(String(255))
    node: Mapped[str | None] = mapped_column(String(255))
    job: Mapped[str | None] = mapped_column(String(64), index=True)

    source: Mapped[Source] = relationship(lazy="joined", innerjoin=True)


class PageFailure(Base):
    """An article page that could not be stored: why, how often, and whether to skip it for a while.

    Permanent failures (gone, no article text) keep the page out of the next crawls until
    `kuroshio.storage.page_failures.FAILED_PAGE_RECHECK` has passed; transient ones are only a record, and retried next crawl.
    """

    __tablename__ = "page_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"), index=True)
    url: Mapped[str] = mapped_column(String(MAX_URL_LENGTH), unique=True)
    reason: Mapped[str] = mapped_column(Text)
    permanent: Mapped[bool]
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    first_failed_at: Mapped[datetime]
    last_failed_at: Mapped[datetime] = mapped_column(index=True)


DIGEST_ATTEMPT_STATUSES = ("running", "ok", "failed", "empty", "interrupted")


class DigestAttempt(Base):
    """One attempt at sending a digest: when, how it ended, how many articles, and the SMTP error if any.

    `ok`: the server accepted the message (its articles are in `digest_deliveries`); `failed`: nothing
    was accepted, the error says why; `empty`: nothing was owed and the digest does not send empty
    ones; `interrupted`: the process ended before finishing (found by the next attempt).
    """

    __tablename__ = "digest_attempts"
    __table_args__ = (
        CheckConstraint(
            "status IN ('running', 'ok', 'failed', 'empty', 'interrupted')", name="status"
        ),
        Index("ix_digest_attempts_digest_started_at", "digest", "started_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    digest: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16))
    articles_count: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int | None]


class DigestDelivery(Base):
    """An article the mail server accepted in a digest: it is never owed to that digest again."""

    __tablename__ = "digest_deliveries"
    __table_args__ = (UniqueConstraint("digest", "article_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    digest: Mapped[str] = mapped_column(String(200))
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"), index=True)
    delivered_at: Mapped[datetime]
    message_id: Mapped[str] = mapped_column(String(255))


class DigestTargetDelivery(Base):
    """An article one target of a digest accepted (an SMTP server, an Apprise URL) while another target
    of the digest has not yet: the failed one is retried with what it lacks, the others get nothing twice.

    `target` names the target without its secrets (`kuroshio.digest.notify`). Once every target has
    accepted an article, it is in `digest_deliveries` and its rows here are gone: this table holds only
    deliveries still partial.
    """

    __tablename__ = "digest_target_deliveries"
    __table_args__ = (UniqueConstraint("digest", "target", "article_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    digest: Mapped[str] = mapped_column(String(200))
    target: Mapped[str] = mapped_column(String(200))
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"), index=True)
    delivered_at: Mapped[datetime]
    message_id: Mapped[str] = mapped_column(String(255))


class Lease(Base):
    """A named, expiring claim on shared work: `daemon` (one per database), `crawl:<source>`.

    The holder renews it while alive; a holder that was killed stops renewing, so its lease expires
    after its time-to-live (sooner on the same host, where a dead pid is seen at once). `info`
    carries what the holder wants others to see (the daemon's next run times).
    """

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200))
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    acquired_at: Mapped[datetime]
    renewed_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    info: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


# Validators longer than this are not kept (no real server sends one; a hostile one would fill the row).
MAX_VALIDATOR_CHARS = 512
# A document that names others (robots.txt, a sitemap index) is kept whole when it is at most this big,
# so that a 304 can still lead to what it names; a bigger one is fetched whole every crawl.
MAX_KEPT_DOCUMENT_BYTES = 512 * 1024


class DocumentValidators(Base):
    """The validators of a discovery document's last answer, sent back on the next request for it.

    `etag` and `last_modified` are the ETag and Last-Modified headers as the server sent them (echoed
    verbatim in If-None-Match and If-Modified-Since); `last_status` is 200 or 304; `body` is kept only
    for a document that names other documents (`kuroshio.storage.validators`).
    """

    __tablename__ = "document_validators"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(MAX_URL_LENGTH), unique=True)
    etag: Mapped[str | None] = mapped_column(String(MAX_VALIDATOR_CHARS))
    last_modified: Mapped[str | None] = mapped_column(String(MAX_VALIDATOR_CHARS))
    last_status: Mapped[int] = mapped_column(Integer)
    checked_at: Mapped[datetime]
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
