"""One spider per configured source: discover article links, fetch the new ones, extract them.

Discovery runs every style the source configures — feeds, sitemaps (and those its domains'
robots.txt names), listing pages — and funnels every link through one gate (`_follow`) that
canonicalises it and skips what the store already knows, so a second crawl of an unchanged site
fetches no article page again. Every failure is logged with its URL and kept in `errors` for the
run record; the crawl goes on.

Discovery stays on the source (`crawler.addresses.SourceReach`): a sitemap that a sitemap index or
robots.txt names off the source's hosts or ports is recorded as refused and never requested, and
`crawler.middlewares.addresses` refuses any request that would reach inside the network (recorded here
against the page's first URL). A page's canonical link is honoured only on its own host or the source's
domains: a page cannot claim another site's article, whose URL would then be "known" and never fetched.

Article pages are handed to extraction as bytes with their Content-Type (`crawler.extract` decodes
them; Scrapy's `response.text` trusts a wrong HTTP charset), then matched against the crawl's topics
(`KUROSHIO_TOPICS`), here or in the crawl's worker processes (`crawler.workers`). A body over `DOWNLOAD_MAXSIZE`
(`[crawl] max_page_bytes`) — cancelled mid-download, or refused when it inflates past the limit — is
recorded as "too large"; a body that is no page (a gzip blob sent as text/html) as "not an HTML page".
Both are remembered as failed pages, so the next crawls do not fetch them again, as is a 404/410.
Transient failures — 5xx and timeouts after their retries, a host deferred by a long Retry-After or a
robots.txt in 5xx, a redirect loop or a redirect off the allowed domains — are recorded with their
URL and left for the next crawl.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import AsyncIterator, Iterable, Iterator
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import scrapy
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DownloadCancelledError, IgnoreRequest
from scrapy.http import Response, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from kuroshio.crawler.addresses import SourceReach
from kuroshio.crawler.decode import NotHtmlError
from kuroshio.crawler.discover import (
    DiscoveredLink,
    DiscoveryError,
    listing_links,
    parse_feed,
    parse_sitemap,
    robots_sitemaps,
)
from kuroshio.crawler.extract import NoArticleError
from kuroshio.crawler.items import CrawledArticle
from kuroshio.crawler.middlewares.addresses import AddressRefused
from kuroshio.crawler.middlewares.redirect import RedirectRefused
from kuroshio.crawler.middlewares.retry import HostDeferred
from kuroshio.crawler.options import SourceConfig
from kuroshio.crawler.publishers import PUBLISHERS
from kuroshio.crawler.topics import Topic
from kuroshio.crawler.workers import ExtractionWorkerDied, ExtractionWorkers, read_article
from kuroshio.storage.records import ExtractedArticle, PageFailure, TopicMatch
from kuroshio.storage.urls import canonicalize_url, url_variants

logger = logging.getLogger(__name__)

MAX_ERRORS_KEPT = 200
MAX_SITEMAP_DEPTH = 3
GONE_STATUSES = (404, 410)


class SourceSpider(scrapy.Spider):
    """Crawls one source; its results are read by the runner from `errors` and the stats."""

    name = "source"

    def __init__(self, *, source: SourceConfig, known_urls: frozenset[str], **kwargs: Any) -> None:
        super().__init__(name=source.name, **kwargs)
        self.source = source
        self.allowed_domains = list(source.domains)
        self.reach = SourceReach.of(source)
        self.known_urls = known_urls
        self.requested_urls: set[str] = set()
        self.article_pattern = re.compile(source.article_url_pattern) if source.article_url_pattern else None
        self.publisher = PUBLISHERS.get(source.publisher) if source.publisher else None
        self.errors: list[dict[str, str]] = []
        self.failed_pages: list[PageFailure] = []
        self.topics: tuple[Topic, ...] = ()
        self.workers: ExtractionWorkers | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> SourceSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.topics = tuple(crawler.settings.get("KUROSHIO_TOPICS") or ())
        if processes := crawler.settings.getint("KUROSHIO_EXTRACTION_WORKERS"):
            spider.workers = ExtractionWorkers.acquire(processes, spider.topics)
            crawler.signals.connect(spider.release_workers, signal=signals.spider_closed)
        return spider

    def release_workers(self) -> None:
        ExtractionWorkers.release()
        self.workers = None

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for url in self.source.feeds:
            yield self._discovery_request(url, self.parse_feed)
        for url in self.source.sitemaps:
            yield self._discovery_request(url, self.parse_sitemap)
        for url in self.source.listing_pages:
            yield self._discovery_request(url, self.parse_listing)
        if self.source.robots_sitemaps:
            for url in self._robots_urls():
                yield self._discovery_request(url, self.parse_robots)

    def _robots_urls(self) -> Iterator[str]:
        """robots.txt of each allowed domain, on the scheme and port the source's own URLs use there."""
        origins = {urlsplit(url).hostname: f"{urlsplit(url).scheme}://{urlsplit(url).netloc}"
                   for url in self.source.discovery_urls}
        fallback = urlsplit(self.source.discovery_urls[0]).scheme
        for domain in self.allowed_domains:
            yield f"{origins.get(domain, f'{fallback}://{domain}')}/robots.txt"

    def _discovery_request(self, url: str, callback: Any, **meta: Any) -> scrapy.Request:
        # Configured discovery documents may live off the article domains (a feed on FeedBurner).
        return scrapy.Request(url, callback=callback, errback=self.on_error, meta={"allow_offsite": True, **meta})

    def parse_feed(self, response: Response) -> Iterator[scrapy.Request]:
        yield from self._follow_all(response, lambda: parse_feed(response.body, url=response.url))

    def parse_sitemap(self, response: Response) -> Iterator[scrapy.Request]:
        try:
            sitemap = parse_sitemap(response.body, url=response.url)
        except DiscoveryError as error:
            self.record_error(response.url, str(error))
            return
        depth = response.meta.get("sitemap_depth", 0)
        for url in self._own_sitemaps(sitemap.sitemaps):
            if depth < MAX_SITEMAP_DEPTH:
                yield self._discovery_request(url, self.parse_sitemap, sitemap_depth=depth + 1)
        yield from self._follow_all(response, lambda: sitemap.links)

    def parse_robots(self, response: Response) -> Iterator[scrapy.Request]:
        for url in self._own_sitemaps(robots_sitemaps(response.body, url=response.url)):
            yield self._discovery_request(url, self.parse_sitemap, sitemap_depth=1)

    def _own_sitemaps(self, urls: Iterable[str]) -> Iterator[str]:
        """The sitemaps (named by a sitemap index or robots.txt) on the source's own hosts and ports; each
        other one is recorded and never requested: a publisher's documents cannot send the crawler elsewhere."""
        for url in urls:
            if reason := self.reach.off_source_reason(url):
                self.crawler.stats.inc_value("kuroshio/refused")
                self.record_error(url, f"refused: sitemap off the source ({reason})")
            else:
                yield url

    def parse_listing(self, response: Response) -> Iterator[scrapy.Request]:
        pattern = self.article_pattern
        if pattern is None:
            return
        yield from self._follow_all(response, lambda: listing_links(response.body, url=response.url, pattern=pattern))

    def _follow_all(self, response: Response, links: Any) -> Iterator[scrapy.Request]:
        """Follow each link a discovery document yields; a document that does not parse is an error."""
        try:
            discovered: Iterable[DiscoveredLink] = links()
        except DiscoveryError as error:
            self.record_error(response.url, str(error))
            return
        for link in discovered:
            self.crawler.stats.inc_value("kuroshio/links_discovered")
            if request := self._follow(link):
                yield request

    def _follow(self, link: DiscoveredLink) -> scrapy.Request | None:
        """A request for an article link not yet known, or None (known, or not an article URL)."""
        url = canonicalize_url(link.url)
        if self.article_pattern and not self.article_pattern.search(url):
            return None
        if any(variant in self.known_urls for variant in url_variants(url)):
            self.crawler.stats.inc_value("kuroshio/known_skipped")
            return None
        if url in self.requested_urls:
            return None
        self.requested_urls.add(url)
        self.crawler.stats.inc_value("kuroshio/article_requests")
        return scrapy.Request(
            url,
            callback=self.parse_article,
            errback=self.on_error,
            cb_kwargs={"feed_published_at": link.published_at},
        )

    async def parse_article(
        self, response: Response, feed_published_at: datetime | None
    ) -> AsyncIterator[CrawledArticle]:
        content_type = (response.headers.get("Content-Type") or b"").decode("latin-1")
        if not isinstance(response, TextResponse):
            self._page_failed(response.url, f"not an HTML page ({content_type or '?'})")
            return
        try:
            article, matches = await self._read(response.body, url=response.url, content_type=content_type,
                                                feed_published_at=feed_published_at)
        except NotHtmlError as error:
            self._page_failed(response.url, f"not an HTML page ({content_type or '?'}): {error}")
            return
        except NoArticleError as error:
            self.crawler.stats.inc_value("kuroshio/no_content")
            self._page_failed(response.url, f"no content: {error}")
            return
        except ExtractionWorkerDied as error:
            self.record_error(response.url, str(error))  # not remembered: the next crawl fetches it again
            return
        redirects = tuple(canonicalize_url(url) for url in response.meta.get("redirect_urls", ()))
        yield CrawledArticle(self._own_canonical(article), matches=matches, seen_urls=redirects)

    def _own_canonical(self, article: ExtractedArticle) -> ExtractedArticle:
        """`article` with its canonical link honoured only on its own host or the source's allowed domains.

        A canonical link is the page's claim to be another URL's article; claimed across sites, it would
        store this page's text under that URL, and the real article there would be skipped as known.
        """
        canonical_host = urlsplit(article.canonical_url).hostname or ""
        if canonical_host == urlsplit(article.url).hostname or self.reach.in_domains(canonical_host):
            return article
        logger.info("%s: %s: canonical link %s is off the source's domains; kept as its own article",
                    self.source.name, article.url, article.canonical_url)
        self.crawler.stats.inc_value("kuroshio/canonical_ignored")
        return dataclasses.replace(article, canonical_url=article.url)

    async def _read(
        self, body: bytes, *, url: str, content_type: str, feed_published_at: datetime | None
    ) -> tuple[ExtractedArticle, tuple[TopicMatch, ...]]:
        """The page's article and its topic matches, read in this process or by the crawl's workers."""
        if self.workers is None:
            return read_article(body, content_type=content_type, url=url, source=self.source.name,
                                publisher=self.publisher, feed_published_at=feed_published_at, topics=self.topics)
        return await self.workers.read(body, content_type=content_type, url=url, source=self.source.name,
                                       publisher=self.source.publisher or None, feed_published_at=feed_published_at)

    def _page_failed(self, url: str, reason: str) -> None:
        """An article page that will not yield an article however often it is fetched."""
        self.record_error(url, reason)
        self.failed_pages.append(PageFailure(canonicalize_url(url), reason, permanent=True))

    def on_error(self, failure: Failure) -> None:
        request = failure.request  # type: ignore[attr-defined]
        if too_large := self._too_large(failure):
            self.crawler.stats.inc_value("kuroshio/too_large")
            self.record_error(request.url, too_large)
            if request.callback == self.parse_article:
                self.failed_pages.append(PageFailure(request.url, too_large, permanent=True))
            return
        if failure.check(HostDeferred):
            # The host asked to be left alone (long Retry-After, robots.txt in 5xx): the next crawl retries.
            self.crawler.stats.inc_value("kuroshio/deferred")
            self.record_error(request.url, failure.getErrorMessage())
            if request.callback == self.parse_article:
                self.failed_pages.append(PageFailure(request.url, failure.getErrorMessage(), permanent=False))
            return
        if failure.check(AddressRefused):
            # Off the source or inside the network (possibly a redirect's target): recorded against the
            # page's first URL, and not remembered, since the crawler, not the page, refused it.
            self.record_error(request.meta.get("redirect_urls", [request.url])[0], failure.getErrorMessage())
            return
        if redirect := self._bad_redirect(failure):
            first_url = request.meta.get("redirect_urls", [request.url])[0]
            self.record_error(first_url, redirect)
            if request.callback == self.parse_article:
                self.failed_pages.append(PageFailure(canonicalize_url(first_url), redirect, permanent=False))
            return
        if failure.check(IgnoreRequest) and not failure.check(HttpError):  # HttpError is an IgnoreRequest
            # Forbidden by robots.txt or off-site: policy doing its job, not a failure.
            logger.info("%s: skipped %s: %s", self.source.name, request.url, failure.getErrorMessage())
            self.crawler.stats.inc_value("kuroshio/ignored")
            return
        status = failure.value.response.status if failure.check(HttpError) else None
        reason = f"HTTP {status}" if status else f"{failure.type.__name__}: {failure.getErrorMessage()}"
        self.record_error(request.url, reason)
        if request.callback == self.parse_article:
            permanent = status in GONE_STATUSES
            self.failed_pages.append(PageFailure(request.url, reason, permanent=permanent))

    def _bad_redirect(self, failure: Failure) -> str | None:
        """Why a redirect was not followed (a loop, too long a chain, off the allowed domains), or None."""
        if not failure.check(IgnoreRequest) or failure.check(HttpError):
            return None
        if failure.check(RedirectRefused):
            return failure.getErrorMessage()
        if "max redirections" in failure.getErrorMessage():
            chain = failure.request.meta.get("redirect_urls", ())  # type: ignore[attr-defined]
            return f"too many redirects: gave up after {len(chain)}"
        return None

    def _too_large(self, failure: Failure) -> str | None:
        """Why a response was refused for its size, or None.

        Scrapy's HTTP handler cancels a body past DOWNLOAD_MAXSIZE (DownloadCancelledError, whether
        Content-Length announced it or the bytes ran over), and its HttpCompressionMiddleware refuses
        a body that inflates past it with an IgnoreRequest naming the setting.
        """
        limit = self.crawler.settings.getint("DOWNLOAD_MAXSIZE")
        if failure.check(DownloadCancelledError):
            return f"too large: download cancelled at the {limit}-byte limit (crawl.max_page_bytes)"
        if failure.check(IgnoreRequest) and "DOWNLOAD_MAXSIZE" in failure.getErrorMessage():
            return f"too large: body inflates past the {limit}-byte limit (crawl.max_page_bytes)"
        return None

    def record_error(self, url: str, reason: str) -> None:
        """Log a failure against its URL and keep it for the run record."""
        logger.warning("%s: %s: %s", self.source.name, url, reason)
        self.crawler.stats.inc_value("kuroshio/errors")
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append({"url": url, "reason": reason})
