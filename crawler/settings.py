"""The Scrapy settings Kuroshio owns: politeness, limits and wiring, derived from `[crawl]` config.

Scrapy's defaults are loose for a monitor (robots.txt ignored, 180 s timeouts, 1 GiB pages), so
every politeness and limit setting is set here explicitly from `CrawlConfig`.

`DOWNLOAD_MAXSIZE` (`[crawl] max_page_bytes`) bounds every body twice: Scrapy cancels a download once
Content-Length announces more or the bytes received pass it, and its HttpCompressionMiddleware stops
inflating a compressed body (Content-Encoding) at the same size: the compression-bomb guard. Only http(s)
can be fetched: the file, data, s3 and ftp download handlers are switched off, so no link a hostile
feed or page slips past discovery can read a local file.

Retries (`[crawl] retry_times`, `retry_backoff`, `max_retry_after`) and robots.txt (`obey_robots`,
`max_crawl_delay`) are applied by Kuroshio's middlewares in place of Scrapy's: see
`crawler.middlewares.retry` and `crawler.middlewares.robotstxt`. Redirect loops and redirects off the
allowed domains are refused by `crawler.middlewares.redirect`; a chain longer than
`REDIRECT_MAX_TIMES` is dropped by Scrapy; the spider records all three with the page's URL. No request
goes off its source's hosts and ports or to an address inside the network (loopback, private,
link-local, metadata): `crawler.middlewares.addresses` resolves and judges every host first, and its
resolver (`TWISTED_DNS_RESOLVER`) connects to the address judged. Feeds, sitemaps, listing pages and
robots.txt are asked for with the validators of their last answer (`crawler.middlewares.conditional`;
`KUROSHIO_CONDITIONAL_REQUESTS`, on unless a config's `scrapy_settings` switches it off). A long crawl
logs each source's progress every `KUROSHIO_PROGRESS_INTERVAL` seconds (`crawler.progress`).
"""

from __future__ import annotations

from typing import Any

from kuroshio.crawler.options import CrawlConfig
from kuroshio.crawler.progress import DEFAULT_LOG_INTERVAL

MIN_DOWNLOAD_DELAY = 0.001


def scrapy_settings(crawl: CrawlConfig, *, log_level: str = "WARNING") -> dict[str, Any]:
    """Process-wide Scrapy settings for one crawl."""
    settings: dict[str, Any] = {
        "BOT_NAME": "kuroshio",
        "USER_AGENT": crawl.user_agent,
        "ROBOTSTXT_OBEY": crawl.obey_robots,
        # A zero delay lets Scrapy's downloader start every queued request of a domain at once, past
        # CONCURRENT_REQUESTS_PER_DOMAIN: Downloader._process_queue schedules each download as a task
        # and only counts it as transferring once the task runs, so its loop never sees the slot full.
        # Any positive delay makes it start one request per pass, the next pass after that task ran.
        # The bug came with https://github.com/scrapy/scrapy/pull/7008 (Scrapy 2.14) and is still in
        # 2.19; no upstream issue reports it.
        "DOWNLOAD_DELAY": max(crawl.download_delay, MIN_DOWNLOAD_DELAY),
        "DOWNLOAD_DELAY_JITTER": 0.5,
        "CONCURRENT_REQUESTS": 16,
        "CONCURRENT_REQUESTS_PER_DOMAIN": crawl.concurrent_per_domain,
        "AUTOTHROTTLE_ENABLED": crawl.autothrottle,
        "AUTOTHROTTLE_START_DELAY": max(crawl.download_delay, 0.1),
        "AUTOTHROTTLE_MAX_DELAY": 60.0,
        "AUTOTHROTTLE_TARGET_CONCURRENCY": 1.0,
        "DOWNLOAD_TIMEOUT": crawl.timeout,
        "RETRY_ENABLED": True,
        "RETRY_TIMES": crawl.retry_times,
        # The spider logs and records each failed page once, with its URL and reason; Scrapy's "Gave up
        # retrying" line at ERROR would say it a second time.
        "RETRY_GIVE_UP_LOG_LEVEL": "INFO",
        "KUROSHIO_RETRY_BACKOFF": crawl.retry_backoff,
        "KUROSHIO_MAX_RETRY_AFTER": crawl.max_retry_after,
        "KUROSHIO_MAX_CRAWL_DELAY": crawl.max_crawl_delay,
        "KUROSHIO_EXTRACTION_WORKERS": crawl.extraction_workers,
        "DOWNLOAD_HANDLERS": {"file": None, "data": None, "s3": None, "ftp": None},
        # A direct connection uses the address AddressPolicyMiddleware judged (crawler.middlewares.addresses).
        "TWISTED_DNS_RESOLVER": "kuroshio.crawler.middlewares.addresses.CheckedAddressResolver",
        "DOWNLOAD_MAXSIZE": crawl.max_page_bytes,
        "DOWNLOAD_WARNSIZE": crawl.max_page_bytes // 2,
        "REDIRECT_MAX_TIMES": 5,
        "COOKIES_ENABLED": False,
        "TELNETCONSOLE_ENABLED": False,
        # Nor Scrapy's remote control (2.19), which runs code sent over HTTP: an unattended monitor needs
        # neither, and it starts a server and writes a job file (its token in it) for every source's Crawler.
        "REMOTE_CONTROL_ENABLED": False,
        "LOG_LEVEL": log_level,
        "LOG_INSTALL_ROOT_HANDLER": False,  # the CLI configures logging once, for every logger
        "LOGSTATS_INTERVAL": 0,
        # The pipeline is synchronous: more items in parallel only adds asyncio tasks per response.
        "CONCURRENT_ITEMS": 1,
        # Scrapy re-parses each callback's source with `ast` per response to warn about `return x`
        # in generators; ours have none, and the check costs a few percent of a crawl.
        "WARN_ON_GENERATOR_RETURN_VALUE": False,
        "ITEM_PIPELINES": {"kuroshio.crawler.pipelines.StorePipeline": 300},
        "KUROSHIO_PROGRESS_INTERVAL": DEFAULT_LOG_INTERVAL,
        "DOWNLOADER_MIDDLEWARES": {
            # Before Scrapy's OffsiteMiddleware (50).
            "kuroshio.crawler.middlewares.robotstxt.RobotsTxtOffsiteMiddleware": 45,
            # After OffsiteMiddleware (an off-domain link is skipped there, quietly), before robots.txt
            # is fetched for a request (100): a refused host is not asked for its robots.txt either.
            "kuroshio.crawler.middlewares.addresses.AddressPolicyMiddleware": 60,
            # In the places of the Scrapy middlewares they extend (see crawler.middlewares.robotstxt, .retry).
            "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
            "kuroshio.crawler.middlewares.robotstxt.RobotsPolicyMiddleware": 100,
            "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
            "kuroshio.crawler.middlewares.retry.BackoffRetryMiddleware": 550,
            # After Scrapy's RedirectMiddleware (600), so it sees a redirect first.
            "kuroshio.crawler.middlewares.redirect.RedirectPolicyMiddleware": 610,
            # Below RedirectMiddleware (600) and HttpCompressionMiddleware (590): it sees the final
            # answer of each document, decompressed (crawler.middlewares.conditional).
            "kuroshio.crawler.middlewares.conditional.ConditionalRequestMiddleware": 580,
        },
    }
    settings.update(crawl.scrapy_settings)
    # Ours beside those a config's scrapy_settings adds, which replace the whole EXTENSIONS dict.
    settings["EXTENSIONS"] = {"kuroshio.crawler.progress.ProgressLog": 500, **settings.get("EXTENSIONS", {})}
    if crawl.proxy:
        settings["KUROSHIO_PROXY"] = crawl.proxy
        # Before Scrapy's HttpProxyMiddleware (750), so it sees the proxy; robots.txt requests too.
        settings["DOWNLOADER_MIDDLEWARES"]["kuroshio.crawler.middlewares.httpproxy.ProxyMiddleware"] = 740
    return settings
