"""Retries with the host held back before each one, and hosts deferred past a long Retry-After.

`BackoffRetryMiddleware` replaces Scrapy's RetryMiddleware (same `RETRY_*` settings), which retries
at once. Before a retry the whole host is held back — `KUROSHIO_RETRY_BACKOFF` seconds, doubled each
retry (never past `KUROSHIO_MAX_RETRY_AFTER`), or the server's `Retry-After` on a 429/503. A
Retry-After longer than `KUROSHIO_MAX_RETRY_AFTER` defers the host: its pages fail with
`HostDeferred` for this run (transient, so the next crawl fetches them).

Settings:
- `RETRY_ENABLED`, `RETRY_TIMES` (`[crawl] retry_times`), `RETRY_HTTP_CODES`, `RETRY_EXCEPTIONS`,
  `RETRY_PRIORITY_ADJUST`, `RETRY_GIVE_UP_LOG_LEVEL`: Scrapy's, read as its RetryMiddleware reads them;
- `KUROSHIO_RETRY_BACKOFF` (`[crawl] retry_backoff`): the first wait, in seconds;
- `KUROSHIO_MAX_RETRY_AFTER` (`[crawl] max_retry_after`): the longest wait; a longer Retry-After
  defers the host to a later run.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from time import monotonic

import scrapy
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.response import response_status_message

logger = logging.getLogger(__name__)

RETRY_AFTER_STATUSES = (429, 503)


class HostDeferred(IgnoreRequest):
    """A request not made in this run because its host asked to be left alone; the next run retries it."""


def failure_reason(exc: BaseException) -> str:
    """A failed download in one line: the connection errors under Scrapy's DownloadFailedError
    ("ConnectionRefusedError: Connection was refused by other side: 111: Connection refused."), not the
    wrapper's repr of a list of Twisted failures; any other exception as its type and message."""
    reasons = getattr(exc.__cause__, "reasons", None)  # twisted.web._newclient.ResponseNeverReceived and kin
    if reasons:
        return "; ".join(f"{reason.type.__name__}: {reason.getErrorMessage()}" for reason in reasons)
    return f"{type(exc).__name__}: {exc}"


def hold_host(crawler: Crawler, host: str, seconds: float) -> None:
    """Start no request to `host` for `seconds`: Scrapy's downloader waits until its slot's last request
    time plus the slot's delay, so that time is moved into the future."""
    # Scrapy has no public way to delay one request or one host
    # (https://github.com/scrapy/scrapy/issues/802), so this writes `lastseen`, an internal of its
    # downloader's Slot.
    downloader = crawler.engine.downloader if crawler.engine else None
    slot = downloader.slots.get(host) if downloader else None
    if slot is not None:
        slot.lastseen = max(slot.lastseen, monotonic() + seconds)


def retry_after_seconds(value: bytes | None, *, now: datetime | None = None) -> float | None:
    """Seconds a `Retry-After` header asks for (delta-seconds or HTTP-date), or None if absent/garbled."""
    if not value:
        return None
    text = value.decode("latin-1").strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


# Scrapy's RetryMiddleware retries at once and ignores Retry-After
# (https://github.com/scrapy/scrapy/issues/3849), so its process_response and process_exception are
# replaced. The retry itself is still built by RetryMiddleware._retry, a private method: it applies
# the RETRY_* settings and the request's max_retry_times, priority_adjust and give_up_log_level meta
# keys as Scrapy's own retries do, where the public get_retry_request() reads only the first of those
# keys. Scrapy offers no public hook for that step, and no upstream issue asks for one.
class BackoffRetryMiddleware(RetryMiddleware):
    """Scrapy's retries, with the host held back before each one, and hosts deferred past a long Retry-After."""

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler.settings)
        self.crawler = crawler
        self.backoff = crawler.settings.getfloat("KUROSHIO_RETRY_BACKOFF", 1.0)
        self.max_retry_after = crawler.settings.getfloat("KUROSHIO_MAX_RETRY_AFTER", 300.0)
        self.deferred_hosts: dict[str, str] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BackoffRetryMiddleware:
        return cls(crawler)

    def process_request(self, request: scrapy.Request) -> None:
        host = urlparse_cached(request).hostname or ""
        if reason := self.deferred_hosts.get(host):
            raise HostDeferred(reason)

    # Scrapy 2.13+ calls middleware methods without `spider` when they do not take it; the stubs still
    # declare the old signature, hence the ignores.
    def process_response(  # type: ignore[override]
        self, request: scrapy.Request, response: Response
    ) -> scrapy.Request | Response:
        if request.meta.get("dont_retry") or response.status not in self.retry_http_codes:
            return response
        host = urlparse_cached(request).hostname or ""
        wait = None
        if response.status in RETRY_AFTER_STATUSES:
            wait = retry_after_seconds(response.headers.get("Retry-After"))
        if wait is not None and wait > self.max_retry_after:
            reason = (f"deferred to a later run: HTTP {response.status} with Retry-After {wait:.0f} s, "
                      f"over crawl.max_retry_after ({self.max_retry_after:.0f} s)")
            logger.warning("%s: %s", host, reason)
            self.deferred_hosts[host] = reason
            self.crawler.stats.inc_value("kuroshio/hosts_deferred")
            raise HostDeferred(reason)
        retry = self._retry(request, response_status_message(response.status))
        if retry is None:
            return response
        self._hold(host, retry, wait, f"HTTP {response.status}")
        return retry

    def process_exception(  # type: ignore[override]
        self, request: scrapy.Request, exception: Exception
    ) -> scrapy.Request | None:
        if not isinstance(exception, self.exceptions_to_retry) or request.meta.get("dont_retry"):
            return None
        retry = self._retry(request, exception)
        if retry is not None:
            self._hold(urlparse_cached(request).hostname or "", retry, None, type(exception).__name__)
        return retry

    def _hold(self, host: str, retry: scrapy.Request, retry_after: float | None, why: str) -> None:
        """Hold `host` back before `retry`: the server's Retry-After, else exponential backoff."""
        backoff = min(self.backoff * 2 ** (retry.meta["retry_times"] - 1), self.max_retry_after)
        wait = retry_after if retry_after is not None else backoff
        logger.info("%s: %s; retry %d of %s in %.1f s", host, why, retry.meta["retry_times"], retry.url, wait)
        self.crawler.stats.inc_value("kuroshio/retries")
        hold_host(self.crawler, host, wait)
