"""The proxy every request goes through, robots.txt requests included.

`ProxyMiddleware` sends every request through `[crawl] proxy`. Setting `meta["proxy"]` here rather
than in the spider also covers the requests Scrapy makes on its own (robots.txt), which is what
keeps the offline fixture web fully offline. It runs before Scrapy's HttpProxyMiddleware, which
then applies the proxy.

Settings: `KUROSHIO_PROXY` (`[crawl] proxy`); the middleware is only enabled when it is set.
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
