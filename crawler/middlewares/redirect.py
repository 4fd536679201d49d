"""Redirects Kuroshio refuses before Scrapy's RedirectMiddleware follows them.

`RedirectPolicyMiddleware` refuses a redirect back to a URL of its own chain (a loop: Scrapy's
duplicate filter would drop it silently) and one to a host neither the request's own nor of the
source's allowed domains (Scrapy drops that one silently too, and follows it for a discovery request
allowed off-site). Both fail the request with `RedirectRefused`, which the spider records.

Settings: none of its own. Scrapy's `REDIRECT_ENABLED` and `REDIRECT_MAX_TIMES` still apply (a chain
longer than `REDIRECT_MAX_TIMES` is dropped by Scrapy's RedirectMiddleware); the allowed domains are
the spider's `allowed_domains`.
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

import scrapy
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.url import url_is_from_any_domain
from w3lib.url import safe_url_string


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
