"""Downloader middlewares Kuroshio adds to Scrapy's.

- `ProxyMiddleware` sends every request through `[crawl] proxy`. Setting `meta["proxy"]` here rather
  than in the spider also covers the requests Scrapy makes on its own (robots.txt), which is what
  keeps the offline fixture web fully offline.
- `RobotsTxtOffsiteMiddleware` lets robots.txt requests past the offsite filter. Scrapy's
  RobotsTxtMiddleware fetches robots.txt of every host it is asked to reach, but that request goes
  back through OffsiteMiddleware, which drops it for a configured off-domain host (a feed on
  FeedBurner) — and a robots.txt that cannot be fetched counts as allow-all. The host was already
  allowed for the request that asked, so its robots.txt is allowed too.
"""

from __future__ import annotations

import scrapy
from scrapy.crawler import Crawler


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
