"""Downloader middlewares Kuroshio adds to Scrapy's: proxy, retries with backoff, robots.txt policy.

- `ProxyMiddleware` sends every request through `[crawl] proxy`. Setting `meta["proxy"]` here rather
  than in the spider also covers the requests Scrapy makes on its own (robots.txt), which is what
  keeps the offline fixture web fully offline.
- `RobotsTxtOffsiteMiddleware` lets robots.txt requests past the offsite filter. Scrapy's
  RobotsTxtMiddleware fetches robots.txt of every host it is asked to reach, but that request goes
  back through OffsiteMiddleware, which drops it for a configured off-domain host (a feed on
  FeedBurner) — and a robots.txt that cannot be fetched counts as allow-all. The host was already
  allowed for the request that asked, so its robots.txt is allowed too.
- `RedirectPolicyMiddleware` refuses a redirect back to a URL of its own chain (a loop: Scrapy's
  duplicate filter would drop it silently) and one to a host neither the request's own nor of the
  source's allowed domains (Scrapy drops that one silently too, and follows it for a discovery request
  allowed off-site). Both fail the request with `RedirectRefused`, which the spider records.
- `BackoffRetryMiddleware` replaces Scrapy's RetryMiddleware (same `RETRY_*` settings), which retries
  at once. Before a retry the whole host is held back — `KUROSHIO_RETRY_BACKOFF` (`[crawl]
  retry_backoff`) seconds, doubled each retry (never past `max_retry_after`), or the server's
  `Retry-After` on a 429/503. A Retry-After longer than `KUROSHIO_MAX_RETRY_AFTER` (`[crawl]
  max_retry_after`) defers the host: its pages fail with `HostDeferred` for this run (transient, so
  the next crawl fetches them).
- `RobotsPolicyMiddleware` replaces Scrapy's RobotsTxtMiddleware: a robots.txt `Crawl-delay` becomes the
  host's download delay (capped at `KUROSHIO_MAX_CRAWL_DELAY`, `[crawl] max_crawl_delay`; the cap is
  logged), and a robots.txt that still answers 5xx, or cannot be fetched at all, after its retries
  defers the host for this run (as Google does: a server error there is no permission to crawl),
  where Scrapy would allow all. A 4xx robots.txt (none there) still means allow-all.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from time import monotonic
from typing import Any
from urllib.parse import urljoin, urlsplit

import scrapy
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response
from scrapy.robotstxt import RobotParser
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.response import response_status_message
from scrapy.utils.url import url_is_from_any_domain
from w3lib.url import safe_url_string

logger = logging.getLogger(__name__)

RETRY_AFTER_STATUSES = (429, 503)


class HostDeferred(IgnoreRequest):
    """A request not made in this run because its host asked to be left alone; the next run retries it."""


class ProxyMiddleware:
    """Sets `KUROSHIO_PROXY` as the proxy of every request that has none."""

    def __init__(self, proxy: str) -> None:
        self.proxy = proxy

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ProxyMiddleware:
        return cls(crawler.settings["KUROSHIO_PROXY"])

    def process_request(self, request: scrapy.Request) -> None:
        request.meta.setdefault("proxy", self.proxy)


class RobotsTxtOffsiteMiddleware:
    """Marks the robots.txt requests of Scrapy's RobotsTxtMiddleware as allowed off-site."""

    def process_request(self, request: scrapy.Request) -> None:
        if request.meta.get("dont_obey_robotstxt") and request.url.endswith("/robots.txt"):
            request.meta["allow_offsite"] = True


class RedirectRefused(IgnoreRequest):
    """A redirect not followed: a loop, or a target off the allowed domains."""


class RedirectPolicyMiddleware:
    """Refuses redirect loops and redirects off the allowed domains before Scrapy's RedirectMiddleware
    follows them (it runs first on responses: a higher priority number)."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RedirectPolicyMiddleware:
        return cls(crawler)

    def process_response(self, request: scrapy.Request, response: Response) -> Response:
        location = response.headers.get("Location")
        if response.status not in (301, 302, 303, 307, 308) or not location:
            return response
        target = urljoin(request.url, safe_url_string(location.decode("latin-1")))
        chain = [*request.meta.get("redirect_urls", ()), request.url]
        if target in chain:
            raise RedirectRefused(f"redirect loop: {' -> '.join([*chain, target])}")
        host = urlparse_cached(request).hostname
        allowed = getattr(self.crawler.spider, "allowed_domains", None) or []
        if urlsplit(target).hostname != host and not url_is_from_any_domain(target, allowed):
            raise RedirectRefused(f"redirected off the allowed domains to {target}")
        return response


def hold_host(crawler: Crawler, host: str, seconds: float) -> None:
    """Start no request to `host` for `seconds`: Scrapy's downloader waits until its slot's last request
    time plus the slot's delay, so that time is moved into the future."""
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

    def process_response(self, request: scrapy.Request, response: Response) -> scrapy.Request | Response:
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

    def process_exception(self, request: scrapy.Request, exception: Exception) -> scrapy.Request | None:
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


class RobotsPolicyMiddleware(RobotsTxtMiddleware):
    """Scrapy's robots.txt middleware, plus Crawl-delay (capped) and a robots.txt in 5xx deferring its host."""

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self.max_crawl_delay = crawler.settings.getfloat("KUROSHIO_MAX_CRAWL_DELAY", 30.0)
        self.unavailable: dict[str, str] = {}
        self.crawl_delays: dict[str, float] = {}

    async def _parse_robots(self, response: Response, netloc: str, request: scrapy.Request) -> None:
        if response.status >= 500:
            reason = f"deferred to a later run: {response.url} answered HTTP {response.status}"
            logger.warning("%s", reason)
            self.unavailable[netloc] = reason
            self.crawler.stats.inc_value("kuroshio/hosts_deferred")
        await super()._parse_robots(response, netloc, request)

    def _robots_error(self, exc: Exception, netloc: str) -> None:
        # Scrapy allows all when robots.txt cannot be fetched at all (timeouts, dropped connections
        # after their retries); like a 5xx that is no permission to crawl. An IgnoreRequest (a
        # redirect refused, say) is policy, not the server failing, and keeps Scrapy's allow-all.
        if not isinstance(exc, IgnoreRequest):
            reason = f"deferred to a later run: robots.txt of {netloc} could not be fetched ({type(exc).__name__})"
            logger.warning("%s", reason)
            self.unavailable[netloc] = reason
            self.crawler.stats.inc_value("kuroshio/hosts_deferred")
        super()._robots_error(exc, netloc)

    def process_request_2(self, rp: RobotParser | None, request: scrapy.Request) -> None:
        netloc = urlparse_cached(request).netloc
        if reason := self.unavailable.get(netloc):
            raise HostDeferred(reason)
        super().process_request_2(rp, request)
        if rp is not None:
            self._apply_crawl_delay(rp, request)

    def _apply_crawl_delay(self, rp: RobotParser, request: scrapy.Request) -> None:
        """Make the host's Crawl-delay (capped) its download delay, kept from AutoThrottle's adjustments."""
        host = urlparse_cached(request).hostname or ""
        if host not in self.crawl_delays:
            asked = rp.crawl_delay(self._robotstxt_useragent or request.headers.get(b"User-Agent", self._default_useragent))
            delay = min(asked or 0.0, self.max_crawl_delay)
            if asked and asked > self.max_crawl_delay:
                logger.warning("%s: robots.txt Crawl-delay %s s capped at crawl.max_crawl_delay (%s s)",
                               host, asked, self.max_crawl_delay)
            self.crawl_delays[host] = delay
        delay = self.crawl_delays[host]
        if not delay:
            return
        request.meta["autothrottle_dont_adjust_delay"] = True
        downloader: Any = self.crawler.engine.downloader if self.crawler.engine else None
        if downloader is None:
            return
        downloader.per_slot_settings.setdefault(host, {}).update(delay=delay, jitter=0.0)
        if slot := downloader.slots.get(host):
            slot.delay = max(slot.delay, delay)
            slot.jitter = 0.0
