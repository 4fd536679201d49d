"""One spider per configured source: discover article links, fetch the new ones, extract them.

Discovery runs every style the source configures — feeds, sitemaps (and those its domains'
robots.txt names), listing pages — and funnels every link through one gate (`_follow`) that
canonicalises it and skips what the store already knows, so a second crawl of an unchanged site
fetches no article page again. The store is asked about each document's links together, once the
document is read (`crawler.lookups`), never for its whole archive. Every failure is logged with its URL
and kept in `errors` for the run record; the crawl goes on. A link that is no usable URL
(`DiscoveredLink.problem`) is one such failure, never the end of its document; any error while reading
a page is that page's failure, left for the next crawl when it is none we expected.

Discovery documents are asked for conditionally (`crawler.middlewares.conditional`): one that answers
304 Not Modified ends there, its links unread, unless it names other documents (robots.txt, a sitemap
index), whose kept body is read again so that what it names is still polled. A document's answer is
remembered only when its work was finished: an error against it or against a page it led to, or a link
it named left by the page cap, leaves it to be read whole next time.

Discovery is bounded (`crawler.window`): links dated before the crawl's window are never requested,
nor the sitemaps of an index last changed before it; an index's sitemaps are read one at a time, newest
first; and one source's crawl requests at most `max_pages` pages (robots.txt aside) — reaching the cap
ends discovery, and the run's note says what was left. A robots.txt that answers 4xx names no sitemaps
and is no error.

Discovery stays on the source (`crawler.addresses.SourceReach`): a sitemap that a sitemap index or
robots.txt names off the source's hosts or ports is recorded as refused and never requested, and
`crawler.middlewares.addresses` refuses any request that would reach inside the network (recorded here
against the page's first URL). A page's canonical link is honoured only on its own host or the source's
domains: a page cannot claim another site's article, whose URL would then be "known" and never fetched.

Article pages are handed to extraction as bytes with their Content-Type (`crawler.extract` decodes
them; Scrapy's `response.text` trusts a wrong HTTP charset), then matched against the crawl's topics
(`KUROSHIO_TOPICS`), here or in the crawl's worker processes (`crawler.workers`). A body over `DOWNLOAD_MAXSIZE`
(`[crawl] max_page_bytes`) — cancelled mid-download, or refused when it inflates past the limit — is
recorded as "too large", as is a page of more elements than extraction reads (`crawler.extract.PageTooLarge`);
a body that is no page (a gzip blob sent as text/html) as "not an HTML page". Both are remembered as failed pages, so the next crawls do not fetch them again, as is a 404/410.
Transient failures — 5xx and timeouts after their retries, a host deferred by a long Retry-After or a
robots.txt in 5xx, a redirect loop or a redirect off the allowed domains — are recorded with their
URL and left for the next crawl.

With `KUROSHIO_DISCOVER_ONLY` (`kuroshio check`, `crawler.check`) discovery runs as above, max_pages
counted as ever, but an article link that would be requested is only counted: no article is fetched.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import scrapy
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DownloadCancelledError, IgnoreRequest
from scrapy.http import Response, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError
from sqlalchemy.exc import SQLAlchemyError
from twisted.python.failure import Failure

from kuroshio.crawler.addresses import SourceReach, url_port
from kuroshio.crawler.decode import NotHtmlError
from kuroshio.crawler.discover import (
    DiscoveredLink,
    DiscoveryError,
    listing_links,
    parse_feed,
    parse_sitemap,
    robots_sitemaps,
)
from kuroshio.crawler.items import CrawledArticle
from kuroshio.crawler.lookups import StoreLookups
from kuroshio.crawler.middlewares.addresses import AddressRefused
from kuroshio.crawler.middlewares.conditional import DocumentAnswers, document_meta
from kuroshio.crawler.middlewares.redirect import RedirectRefused
from kuroshio.crawler.middlewares.retry import HostDeferred, failure_reason
from kuroshio.crawler.options import SourceConfig
from kuroshio.crawler.publishers import PUBLISHERS
from kuroshio.crawler.topics import Topic
from kuroshio.crawler.window import NO_WINDOW, CrawlWindow
from kuroshio.crawler.workers import ExtractionWorkerDied, ExtractionWorkers, read_article
from kuroshio.storage.records import ExtractedArticle, PageFailure, TopicMatch
from kuroshio.storage.text import one_line
from kuroshio.storage.urls import canonicalize_url
from kuroshio.storage.validators import NOT_MODIFIED

logger = logging.getLogger(__name__)

MAX_ERRORS_KEPT = 200
MAX_SITEMAP_DEPTH = 3
GONE_STATUSES = (404, 410)


class SourceSpider(scrapy.Spider):
    """Crawls one source; its results are read by the runner from `errors` and the stats."""

    name = "source"

    def __init__(self, *, source: SourceConfig, window: CrawlWindow = NO_WINDOW, max_pages: int = 0,
                 **kwargs: Any) -> None:
        super().__init__(name=source.name, **kwargs)
        self.source = source
        self.window = window
        self.max_pages = max_pages
        self.pages_requested = 0
        self.capped = False
        self.links_left: set[str] = set()  # new links in the window not requested once capped
        self.documents_left: set[str] = set()  # feeds, sitemaps, listing pages not requested once capped
        self.sitemaps_waiting: deque[tuple[str, int]] = deque()  # (url, depth), fetched one at a time
        self.sitemap_fetching = False
        self.sitemaps_seen: set[str] = set(source.sitemaps)
        self.allowed_domains = list(source.domains)
        self.reach = SourceReach.of(source)
        self.lookups: StoreLookups | None = None  # the store, opened from the crawler's settings
        self.documents: DocumentAnswers | None = None  # discovery documents' answers, when asked conditionally
        self.found_in: dict[str, str] = {}  # article URL (as requested or reached) → the document that named it
        self.requested_urls: set[str] = set()
        self.article_pattern = re.compile(source.article_url_pattern) if source.article_url_pattern else None
        self.publisher = PUBLISHERS.get(source.publisher) if source.publisher else None
        self.errors: list[dict[str, str]] = []
        self.failed_pages: list[PageFailure] = []
        self.topics: tuple[Topic, ...] = ()
        self.workers: ExtractionWorkers | None = None
        self.discover_only = False  # KUROSHIO_DISCOVER_ONLY: `kuroshio check`
        self.links_found: dict[str, int] = {}  # links each discovery document gave (by its final URL)
        self.sitemaps_found: dict[str, int] = {}  # sitemaps each robots.txt or sitemap index named

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> SourceSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.topics = tuple(crawler.settings.get("KUROSHIO_TOPICS") or ())
        spider.discover_only = crawler.settings.getbool("KUROSHIO_DISCOVER_ONLY")
        if database_url := crawler.settings.get("KUROSHIO_DATABASE_URL"):
            spider.lookups = StoreLookups(database_url)
            crawler.signals.connect(spider.close_lookups, signal=signals.spider_closed)
            if crawler.settings.getbool("KUROSHIO_CONDITIONAL_REQUESTS", True):
                spider.documents = DocumentAnswers(spider.lookups.validators)
        if processes := crawler.settings.getint("KUROSHIO_EXTRACTION_WORKERS"):
            spider.workers = ExtractionWorkers.acquire(processes, spider.topics)
            crawler.signals.connect(spider.release_workers, signal=signals.spider_closed)
        return spider

    def release_workers(self) -> None:
        ExtractionWorkers.release()
        self.workers = None

    def close_lookups(self) -> None:
        if self.lookups is not None:
            self.lookups.close()

    async def start(self) -> AsyncIterator[scrapy.Request]:
        configured: list[tuple[str, Callable[[Response], Iterator[scrapy.Request]]]] = [
            *((url, self.parse_feed) for url in self.source.feeds),
            *((url, self.parse_sitemap) for url in self.source.sitemaps),
            *((url, self.parse_listing) for url in self.source.listing_pages),
        ]
        for url, callback in configured:
            if self._may_request():
                yield self._discovery_request(url, callback)
            else:
                self.documents_left.add(url)
        if self.source.robots_sitemaps:
            for url in self._robots_urls():
                # Not counted against max_pages: one per host, and every crawl there reads it anyway.
                yield scrapy.Request(url, callback=self.parse_robots, errback=self.on_robots_error,
                                     meta={"allow_offsite": True, **document_meta()})

    def _robots_urls(self) -> Iterator[str]:
        """robots.txt of each allowed domain, on the scheme and port the source's own URLs use there."""
        origins = {urlsplit(url).hostname: f"{urlsplit(url).scheme}://{urlsplit(url).netloc}"
                   for url in self.source.discovery_urls}
        fallback = urlsplit(self.source.discovery_urls[0]).scheme
        for domain in self.allowed_domains:
            yield f"{origins.get(domain, f'{fallback}://{domain}')}/robots.txt"

    def _discovery_request(self, url: str, callback: Any, **meta: Any) -> scrapy.Request:
        # Configured discovery documents may live off the article domains (a feed on FeedBurner).
        return scrapy.Request(url, callback=callback, errback=self.on_error,
                              meta={"allow_offsite": True, **document_meta(), **meta})

    def parse_feed(self, response: Response) -> Iterator[scrapy.Request]:
        if not self._not_modified(response):
            yield from self._follow_all(response, lambda: parse_feed(response.body, url=response.url))

    def _not_modified(self, response: Response) -> bool:
        """Whether the document answered 304 Not Modified: its links were all followed before, so its
        work ends here."""
        if response.status != NOT_MODIFIED:
            return False
        logger.debug("%s: %s: not modified since the last crawl", self.source.name, response.url)
        self.crawler.stats.inc_value("kuroshio/documents_unchanged")
        return True

    def parse_sitemap(self, response: Response) -> Iterator[scrapy.Request]:
        if response.meta.get("queued_sitemap"):
            self.sitemap_fetching = False
        if self._not_modified(response):
            yield from self._next_sitemap()
            return
        try:
            sitemap = parse_sitemap(response.body, url=response.url)
        except DiscoveryError as error:
            self.record_error(response.url, str(error))
        else:
            depth = response.meta.get("sitemap_depth", 0)
            if sitemap.children and self.documents is not None:  # a 304 must still lead to its sitemaps
                self.documents.keep_body(response.url, response.body)
            if depth < MAX_SITEMAP_DEPTH:
                self._queue_sitemaps(response.url, sitemap.children, depth=depth + 1)
            elif sitemap.children:  # an index this deep is a loop or a trap: said, never silently dropped
                self.record_error(response.url, f"skipped: sitemap index at the nesting cap ({MAX_SITEMAP_DEPTH} "
                                                f"levels): its {len(sitemap.children)} sitemaps not fetched")
            yield from self._follow_all(response, lambda: sitemap.links)
        yield from self._next_sitemap()

    def parse_robots(self, response: Response) -> Iterator[scrapy.Request]:
        if self._not_modified(response):  # only when none was kept: a kept robots.txt is read again
            return
        self._queue_sitemaps(response.url, robots_sitemaps(response.body, url=response.url), depth=1)
        yield from self._next_sitemap()

    def on_robots_error(self, failure: Failure) -> None:
        """A robots.txt answering 4xx is none at all: everything allowed, no sitemaps named, and no error
        (as `RobotsPolicyMiddleware` reads it). Any other failure is recorded as every request's is."""
        response = failure.value.response if failure.check(HttpError) else None
        if response is not None and 400 <= response.status < 500 and response.status != 429:
            logger.info("%s: %s: HTTP %d: no robots.txt there, so no sitemaps named in it",
                        self.source.name, response.url, response.status)
            self.crawler.stats.inc_value("kuroshio/robots_missing")
            return
        self.on_error(failure)

    def _queue_sitemaps(self, named_by: str, sitemaps: Iterable[DiscoveredLink], *, depth: int) -> None:
        """Queue the sitemaps an index or robots.txt names: those on the source (`_own_sitemaps`) that the
        window admits, newest first (`CrawlWindow.select_sitemaps`)."""
        sitemaps = self._usable(list(sitemaps))
        self.sitemaps_found[named_by] = len(sitemaps)
        own = set(self._own_sitemaps(sitemap.url for sitemap in sitemaps))
        selected, too_old = self.window.select_sitemaps(sitemap for sitemap in sitemaps if sitemap.url in own)
        if too_old:
            logger.info("%s: %s: %d sitemaps last changed before the window not fetched",
                        self.source.name, named_by, too_old)
            self.crawler.stats.inc_value("kuroshio/sitemaps_too_old", too_old)
        for sitemap in selected:
            if sitemap.url not in self.sitemaps_seen:
                self.sitemaps_seen.add(sitemap.url)
                self.sitemaps_waiting.append((sitemap.url, depth))

    def _next_sitemap(self) -> Iterator[scrapy.Request]:
        """The next queued sitemap, once the one before it is read: one at a time, so that reaching
        `max_pages` ends discovery before the rest are fetched."""
        if self.sitemap_fetching or not self.sitemaps_waiting:
            return
        url, depth = self.sitemaps_waiting.popleft()
        if not self._may_request():
            self.documents_left.update([url, *(waiting for waiting, _ in self.sitemaps_waiting)])
            self.sitemaps_waiting.clear()
            return
        self.sitemap_fetching = True
        # dont_filter: a request Scrapy's duplicate filter dropped would reach neither callback nor
        # errback and stall the queue; `sitemaps_seen` keeps each sitemap to one request instead.
        yield scrapy.Request(url, callback=self.parse_sitemap, errback=self.on_sitemap_error, dont_filter=True,
                             meta={"allow_offsite": True, "sitemap_depth": depth, "queued_sitemap": True,
                                   **document_meta()})

    def on_sitemap_error(self, failure: Failure) -> list[scrapy.Request]:
        """A queued sitemap that failed is recorded as any request is, and the next one is fetched."""
        self.on_error(failure)
        self.sitemap_fetching = False
        return list(self._next_sitemap())

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
        if pattern is None or self._not_modified(response):
            return
        yield from self._follow_all(response, lambda: listing_links(response.body, url=response.url, pattern=pattern))

    def _follow_all(self, response: Response, links: Any) -> Iterator[scrapy.Request]:
        """Follow each link a discovery document yields inside the window, newest first; a document that
        does not parse is an error."""
        try:
            discovered: list[DiscoveredLink] = self._usable(list(links()))
        except DiscoveryError as error:
            self.record_error(response.url, str(error))
            return
        self.crawler.stats.inc_value("kuroshio/links_discovered", len(discovered))
        self.links_found[response.url] = len(discovered)
        admitted, too_old = self.window.select(discovered)
        self.crawler.stats.inc_value("kuroshio/links_in_window", len(admitted))
        if too_old:
            self.crawler.stats.inc_value("kuroshio/links_too_old", too_old)
            logger.info("%s: %s: %d of %d links dated before the window not fetched",
                        self.source.name, response.url, too_old, len(discovered))
        candidates = [(link, url) for link in admitted if (url := self._article_url(link))]
        self.crawler.stats.inc_value("kuroshio/links_not_articles", len(admitted) - len(candidates))
        try:
            known = self._known([url for _, url in candidates if url not in self.requested_urls])
        except SQLAlchemyError as error:  # nothing of this document is fetched: the next crawl reads it again
            self.record_error(response.url, f"store lookup failed: {type(error).__name__}: "
                                            f"{getattr(error, 'orig', None) or error}")
            return
        for link, url in candidates:
            if request := self._follow(link, url, known=url in known, found_in=response.url):
                yield request

    def _usable(self, links: list[DiscoveredLink]) -> list[DiscoveredLink]:
        """`links` without the bad ones (no usable URL), each of which is recorded: one bad link costs
        itself, not the rest of its document."""
        for link in links:
            if link.problem:
                self.crawler.stats.inc_value("kuroshio/bad_links")
                self.record_error(link.url, f"skipped: {link.problem}")
        return [link for link in links if not link.problem]

    def _article_url(self, link: DiscoveredLink) -> str | None:
        """The link's canonical URL, or None when it is no article URL of the source."""
        url = canonicalize_url(link.url)
        if self.article_pattern and not self.article_pattern.search(url):
            return None
        return url

    def _known(self, urls: list[str]) -> set[str]:
        """Which of `urls` the store knows (`crawler.lookups`), asked once for a whole document's links."""
        if self.lookups is None or not urls:
            return set()
        return self.lookups.known_links(urls)

    def _follow(self, link: DiscoveredLink, url: str, *, known: bool, found_in: str) -> scrapy.Request | None:
        """A request for the article at canonical `url` (named by the document `found_in`) when it is
        neither `known` nor requested yet, or None."""
        if known:
            self.crawler.stats.inc_value("kuroshio/known_skipped")
            return None
        if url in self.requested_urls:
            return None
        if not self._may_request():
            self.links_left.add(url)
            if self.documents is not None:
                self.documents.unfinished(found_in)
            return None
        self.requested_urls.add(url)
        self.found_in[url] = found_in
        self.crawler.stats.inc_value("kuroshio/article_requests")
        if self.discover_only:  # counted as a crawl would fetch it (max_pages included), never fetched
            return None
        return scrapy.Request(
            url,
            callback=self.parse_article,
            errback=self.on_error,
            cb_kwargs={"feed_published_at": link.published_at},
        )

    def _may_request(self) -> bool:
        """Whether one more page may be requested under `max_pages` (counting it if so); once the cap is
        reached, discovery ends: nothing more is requested, and what is left is counted for the run's note."""
        if self.max_pages and self.pages_requested >= self.max_pages:
            if not self.capped:
                self.capped = True
                logger.warning("%s: capped at %d pages (crawl.max_pages): discovery ends; the rest waits for "
                               "the next crawl", self.source.name, self.max_pages)
            return False
        self.pages_requested += 1
        return True

    def cap_note(self) -> str | None:
        """The run's note when the crawl reached `max_pages`, or None."""
        if not self.capped:
            return None
        left = len(self.documents_left)
        documents = f" and {left} discovery page{'s' if left != 1 else ''}" if left else ""  # sitemaps, feeds, listings
        return (f"capped at {self.max_pages} pages (crawl.max_pages): {len(self.links_left)} new links"
                f"{documents} not fetched, left for the next crawl")

    async def parse_article(
        self, response: Response, feed_published_at: datetime | None
    ) -> AsyncIterator[CrawledArticle]:
        # Extraction's modules (trafilatura) load with the first article page: a crawl finding nothing new has none.
        from kuroshio.crawler.extract import NoArticleError, PageTooLarge

        self._reached(response.url, response.meta)
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
        except PageTooLarge as error:
            self.crawler.stats.inc_value("kuroshio/too_large")
            self._page_failed(response.url, f"too large: {error}")
            return
        except NoArticleError as error:
            self.crawler.stats.inc_value("kuroshio/no_content")
            self._page_failed(response.url, f"no content: {error}")
            return
        except ExtractionWorkerDied as error:
            self.record_error(response.url, str(error))  # not remembered: the next crawl fetches it again
            return
        except RecursionError as error:  # markup nested past Python's limit: so it stays on every fetch
            self._page_failed(response.url, f"unreadable page: {error}")
            return
        except Exception as error:  # any other page error is a bug to fix, and still this page's failure
            logger.debug("%s: %s: extraction failed", self.source.name, response.url, exc_info=True)
            self._page_failed(response.url, f"extraction failed: {type(error).__name__}: {error}", permanent=False)
            return
        redirects = tuple(canonicalize_url(url) for url in response.meta.get("redirect_urls", ()))
        yield CrawledArticle(self._own_canonical(article), matches=matches, seen_urls=redirects)

    def _own_canonical(self, article: ExtractedArticle) -> ExtractedArticle:
        """`article` with its canonical link honoured only on its own host or the source's allowed domains.

        A canonical link is the page's claim to be another URL's article; claimed across sites, it would
        store this page's text under that URL, and the real article there would be skipped as known. A
        port is part of the site: the page's host on a port off the source (`SourceReach.off_source_reason`)
        is another site.
        """
        canonical_host = urlsplit(article.canonical_url).hostname or ""
        same_host = canonical_host == urlsplit(article.url).hostname
        on_port = (url_port(article.canonical_url) == url_port(article.url)
                   or not self.reach.off_source_reason(article.canonical_url))
        if (same_host or self.reach.in_domains(canonical_host)) and on_port:
            return article
        logger.info("%s: %s: canonical link %s is off the source (host or port); kept as its own article",
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

    def _page_failed(self, url: str, reason: str, *, permanent: bool = True) -> None:
        """An article page that yields no article: for good (not fetched again for a while), or until
        the next crawl (`permanent=False`)."""
        reason = one_line(reason)
        self.record_error(url, reason)
        self.failed_pages.append(PageFailure(canonicalize_url(url), reason, permanent=permanent))

    def _reached(self, url: str, meta: dict[str, Any]) -> None:
        """Tie the URL an article request ended at (after redirects) to the document that named it, so
        that an error recorded against either leaves that document unfinished."""
        if document := self.found_in.get(canonicalize_url(meta.get("redirect_urls", [url])[0])):
            self.found_in.setdefault(url, document)
            self.found_in.setdefault(canonicalize_url(url), document)

    def on_error(self, failure: Failure) -> None:
        request = failure.request  # type: ignore[attr-defined]
        self._reached(request.url, request.meta)
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
        reason = f"HTTP {status}" if status else failure_reason(failure.value)
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
        """Log a failure against its URL and keep it for the run record, each on one line: a reason may
        quote a server (a Content-Type header, an error's text), whose control characters — terminal
        escape sequences — must reach neither the log nor the terminals that show the run."""
        if self.documents is not None:  # its answer is not remembered: the next crawl reads it whole
            self.documents.unfinished(url)
            self.documents.unfinished(self.found_in.get(url))
        url, reason = one_line(url), one_line(reason)
        logger.warning("%s: %s: %s", self.source.name, url, reason)
        self.crawler.stats.inc_value("kuroshio/errors")
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append({"url": url, "reason": reason})
