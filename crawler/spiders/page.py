"""One page read as a crawl reads an article page (`kuroshio extract`): nothing discovered, nothing stored.

`PageSpider` is the source spider (`crawler.spiders.source`) with one start: the page's URL, requested
with the crawl's settings and middlewares (user agent, robots.txt, the address policy, size limits,
redirects), or a local file's bytes, handed as a response to the same `parse_article`. What it yields
(the article and its topic matches) or records (why the page is no article) is what a crawl of that
page would store or record. No item pipeline runs (`read_page` installs none).

The address policy judges the page against its source: a configured source's own hosts may be inside
the network (an intranet site), as in its crawl. A page of no configured source gets a reach of its own
host that trusts nothing (`untrusted_reach`), so an inside address is refused as a crawl refuses a link
to one (`PageAddressPolicyMiddleware` reads the spider's reach instead of its source's).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import scrapy
from scrapy import signals
from scrapy.crawler import Crawler, CrawlerProcess
from scrapy.http import Response
from scrapy.responsetypes import responsetypes

from kuroshio.crawler.addresses import SourceReach, url_port
from kuroshio.crawler.items import CrawledArticle
from kuroshio.crawler.middlewares.addresses import AddressPolicyMiddleware
from kuroshio.crawler.options import CrawlConfig, SourceConfig
from kuroshio.crawler.settings import scrapy_settings
from kuroshio.crawler.spiders.source import SourceSpider
from kuroshio.crawler.topics import Topic
from kuroshio.storage.records import ExtractedArticle, TopicMatch

ADDRESS_POLICY = "kuroshio.crawler.middlewares.addresses.AddressPolicyMiddleware"


def untrusted_reach(url: str) -> SourceReach:
    """The reach of a page no configured source holds: its own host and port, none of them trusted."""
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    port = url_port(url)
    return SourceReach(domains=(host,), configured=frozenset({(host, port)} if port else ()), trusted=frozenset())


class PageAddressPolicyMiddleware(AddressPolicyMiddleware):
    """The crawl's address policy, judging against the page spider's reach."""

    @property
    def reach(self) -> SourceReach:
        spider: Any = self.crawler.spider
        return spider.reach


class PageSpider(SourceSpider):
    """Reads one page (fetched, or given as `body`) as its source's crawl reads an article page."""

    name = "page"

    def __init__(self, *, source: SourceConfig, page_url: str, reach: SourceReach | None = None,
                 body: bytes | None = None, **kwargs: Any) -> None:
        super().__init__(source=source, **kwargs)
        self.page_url = page_url
        self.body = body
        if reach is not None:
            self.reach = reach
        self.response: Response | None = None

    async def start(self) -> AsyncIterator[Any]:
        if self.body is None:
            # Off the source's domains the address policy, not Scrapy's quiet offsite filter, says why.
            yield scrapy.Request(self.page_url, callback=self.parse_article, errback=self.on_error,
                                 cb_kwargs={"feed_published_at": None}, meta={"allow_offsite": True})
            return
        # A file's bytes become the response Scrapy would build for them (HTML, text or binary by sniffing).
        response_class = responsetypes.from_args(url=self.page_url, body=self.body)
        response = response_class(url=self.page_url, body=self.body, request=scrapy.Request(self.page_url))
        async for item in self.parse_article(response, feed_published_at=None):
            yield item

    async def parse_article(self, response: Response, feed_published_at: Any) -> AsyncIterator[CrawledArticle]:
        self.response = response
        async for item in super().parse_article(response, feed_published_at):
            yield item


@dataclass(frozen=True)
class PageReading:
    """What reading one page gave: the answer, and the article with its matches or why there is none."""

    url: str
    final_url: str | None  # where redirects ended
    status: int | None  # HTTP status (None: a file, or no answer)
    content_type: str
    body: bytes | None  # as received, for the publisher rules report
    article: ExtractedArticle | None
    matches: tuple[TopicMatch, ...]
    reason: str | None  # why there is no article, in the crawl's words


def read_page(
    url: str,
    *,
    source: SourceConfig,
    crawl: CrawlConfig,
    topics: tuple[Topic, ...],
    reach: SourceReach | None = None,
    body: bytes | None = None,
    log_level: str = "WARNING",
) -> PageReading:
    """Read the page at `url` (or `body`, a file's bytes said to come from `url`) as `source`'s crawl
    would; `reach` replaces the source's own for a page of no configured source."""
    settings = scrapy_settings(crawl, log_level=log_level)
    middlewares = dict(settings["DOWNLOADER_MIDDLEWARES"])
    middlewares[f"{__name__}.PageAddressPolicyMiddleware"] = middlewares.pop(ADDRESS_POLICY)
    middlewares[ADDRESS_POLICY] = None
    settings.update({"ITEM_PIPELINES": {}, "KUROSHIO_EXTRACTION_WORKERS": 0, "KUROSHIO_TOPICS": list(topics),
                     "DOWNLOADER_MIDDLEWARES": middlewares})
    process = CrawlerProcess(settings=settings)
    crawler = Crawler(PageSpider, settings, init_reactor=True)
    items: list[CrawledArticle] = []

    def scraped(item: CrawledArticle) -> None:
        items.append(item)

    crawler.signals.connect(scraped, signal=signals.item_scraped, weak=False)
    process.crawl(crawler, source=source, page_url=url, reach=reach, body=body)
    process.start()
    spider: Any = crawler.spider
    response: Response | None = spider.response if isinstance(spider, PageSpider) else None
    stats = crawler.stats.get_stats() if crawler.stats else {}
    article = items[0] if items else None
    reason = None if article else _why_none(spider, stats)
    return PageReading(
        url=url,
        final_url=response.url if response is not None and response.url != url else None,
        status=response.status if response is not None and body is None else None,
        content_type=(response.headers.get("Content-Type") or b"").decode("latin-1") if response is not None else "",
        body=response.body if response is not None else None,
        article=article.article if article else None,
        matches=article.matches if article else (),
        reason=reason,
    )


def _why_none(spider: Any, stats: dict[str, Any]) -> str:
    """Why the page gave no article: the error recorded for it, as a crawl's run would keep it."""
    errors = spider.errors if isinstance(spider, PageSpider) else []
    if errors:
        return str(errors[0]["reason"])
    if stats.get("robotstxt/forbidden"):
        return "forbidden by robots.txt"
    return f"no answer ({stats.get('finish_reason') or 'the read did not start'})"
