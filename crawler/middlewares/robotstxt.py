"""robots.txt policy: Crawl-delay, hosts whose robots.txt fails, and robots.txt requests past the offsite filter.

- `RobotsPolicyMiddleware` replaces Scrapy's RobotsTxtMiddleware: a robots.txt `Crawl-delay` becomes the
  host's download delay (capped at `KUROSHIO_MAX_CRAWL_DELAY`; the cap is logged), and a robots.txt
  that still answers 5xx, or cannot be fetched at all, after its retries defers the host for this run
  (as Google does: a server error there is no permission to crawl), where Scrapy would allow all. A
  4xx robots.txt (none there) still means allow-all. A robots.txt that fails is said once, by the spider,
  against each request it defers (URL and reason): Scrapy's own error log of it, a traceback of some 60
  lines, is held back (`RobotsErrorLogFilter`), and this middleware logs it at INFO only.
- It fetches each host's robots.txt once a crawl: the spider's own request for it (which reads the
  sitemaps it names) is answered with the answer this middleware fetched for the rules, rather than
  fetched a second time. A robots.txt that redirected elsewhere, or that could not be fetched, is not
  shared: the spider's request goes its own way, as before.
- `RobotsTxtOffsiteMiddleware` lets robots.txt requests past the offsite filter. Scrapy's
  RobotsTxtMiddleware fetches robots.txt of every host it is asked to reach, but that request goes
  back through OffsiteMiddleware, which drops it for a configured off-domain host (a feed on
  FeedBurner) — and a robots.txt that cannot be fetched counts as allow-all. The host was already
  allowed for the request that asked, so its robots.txt is allowed too.

Settings:
- `ROBOTSTXT_OBEY` (`[crawl] obey_robots`): off, `RobotsPolicyMiddleware` is not enabled at all;
- `ROBOTSTXT_USER_AGENT`, else `USER_AGENT` (`[crawl] user_agent`): whose rules and Crawl-delay apply;
- `ROBOTSTXT_PARSER`: Scrapy's, the parser both use;
- `KUROSHIO_MAX_CRAWL_DELAY` (`[crawl] max_crawl_delay`): the longest Crawl-delay obeyed.
"""

from __future__ import annotations

import logging
from typing import Any

import scrapy
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response
from scrapy.robotstxt import RobotParser
from scrapy.utils.httpobj import urlparse_cached

from kuroshio.crawler.middlewares.conditional import SHARED_META, is_robots_txt
from kuroshio.crawler.middlewares.retry import HostDeferred, failure_reason

logger = logging.getLogger(__name__)


# Scrapy's RobotsTxtMiddleware.robot_parser logs a robots.txt that could not be fetched at ERROR with its
# traceback (`exc_info=True`), on every crawl, where the failure is a fact about a host, not a bug; no
# upstream issue asks to change that (https://github.com/scrapy/scrapy/issues/2443 discusses how such a
# failure should count). The filter drops that one record; the failure is logged and recorded instead.
class RobotsErrorLogFilter(logging.Filter):
    """Holds back Scrapy's "Error downloading" record (with its traceback) for a robots.txt fetch."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Error downloading")


ROBOTS_ERROR_LOG_FILTER = RobotsErrorLogFilter()


# Scrapy's OffsiteMiddleware filters the requests of crawler.engine.download(), robots.txt ones
# included, since it became a downloader middleware in Scrapy 2.11.2
# (https://github.com/scrapy/scrapy/pull/6358); `allow_offsite` is its public way out.
class RobotsTxtOffsiteMiddleware:
    """Marks the robots.txt requests of Scrapy's RobotsTxtMiddleware as allowed off-site."""

    def process_request(self, request: scrapy.Request) -> None:
        if request.meta.get("dont_obey_robotstxt") and request.url.endswith("/robots.txt"):
            request.meta["allow_offsite"] = True


class RobotsPolicyMiddleware(RobotsTxtMiddleware):
    """Scrapy's robots.txt middleware, plus Crawl-delay (capped) and a robots.txt in 5xx deferring its host."""

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        robots_logger = logging.getLogger(RobotsTxtMiddleware.__module__)
        if ROBOTS_ERROR_LOG_FILTER not in robots_logger.filters:
            robots_logger.addFilter(ROBOTS_ERROR_LOG_FILTER)
        self.max_crawl_delay = crawler.settings.getfloat("KUROSHIO_MAX_CRAWL_DELAY", 30.0)
        self.unavailable: dict[str, str] = {}
        self.crawl_delays: dict[str, float] = {}
        self.fetched: dict[str, Response] = {}  # netloc → the answer its robots.txt gave, for the spider's request

    # Scrapy offers no public hook that sees a robots.txt response's status (its robots_parsed signal
    # carries the parser, not the response), so the private RobotsTxtMiddleware._parse_robots is
    # overridden; no upstream issue asks for 5xx handling.
    async def _parse_robots(self, response: Response, netloc: str, request: scrapy.Request) -> None:
        if response.status >= 500:
            reason = f"deferred to a later run: {response.url} answered HTTP {response.status}"
            logger.info("%s", reason)  # the spider logs it against each request deferred
            self.unavailable[netloc] = reason
            self.crawler.stats.inc_value("kuroshio/hosts_deferred")
        self.fetched[netloc] = response
        await super()._parse_robots(response, netloc, request)

    # Any downloader middleware's process_request may answer with a Response (Scrapy's documented
    # contract); RobotsTxtMiddleware's own is typed as returning None, hence the ignore.
    async def process_request(  # type: ignore[override]
        self, request: scrapy.Request, spider: scrapy.Spider | None = None
    ) -> Response | None:
        """Scrapy's check; then a request for the robots.txt the check just fetched gets that answer."""
        await super().process_request(request)
        if request.meta.get("dont_obey_robotstxt") or not is_robots_txt(request):
            return None
        fetched = self.fetched.get(urlparse_cached(request).netloc)
        if fetched is None or fetched.url != request.url:  # redirected: the spider's own fetch follows it
            return None
        request.meta[SHARED_META] = True  # the answer was noted (validators, kept body) when it came
        return fetched.replace(request=request)

    # Scrapy allows all when robots.txt cannot be fetched at all (timeouts, dropped connections
    # after their retries; discussed in https://github.com/scrapy/scrapy/issues/2443) and offers no
    # public hook to change that, so the private RobotsTxtMiddleware._robots_error is overridden.
    def _robots_error(self, exc: Exception, netloc: str) -> None:
        # Like a 5xx, a robots.txt that cannot be fetched is no permission to crawl. An IgnoreRequest
        # (a redirect refused, say) is policy, not the server failing, and keeps Scrapy's allow-all.
        if not isinstance(exc, IgnoreRequest):
            reason = f"deferred to a later run: robots.txt of {netloc} could not be fetched ({failure_reason(exc)})"
            logger.info("%s", reason)  # the spider logs it against each request deferred
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

    # Scrapy does not apply Crawl-delay (https://github.com/scrapy/scrapy/issues/892), so it is set
    # here on the downloader's per-slot settings and on the host's existing Slot (internals of
    # scrapy.core.downloader), for the user agent Scrapy's own check uses (the middleware's private
    # _robotstxt_useragent and _default_useragent).
    def _apply_crawl_delay(self, rp: RobotParser, request: scrapy.Request) -> None:
        """Make the host's Crawl-delay (capped) its download delay, kept from AutoThrottle's adjustments."""
        host = urlparse_cached(request).hostname or ""
        if host not in self.crawl_delays:
            asked = rp.crawl_delay(self._robotstxt_useragent or request.headers.get(b"User-Agent") or self._default_useragent)
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
