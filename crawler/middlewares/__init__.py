"""Downloader middlewares Kuroshio adds to Scrapy's, one module per Scrapy settings group, as in
`scrapy.downloadermiddlewares`: `httpproxy` (the proxy), `robotstxt` (robots.txt policy and Crawl-delay),
`redirect` (loops and off-domain redirects), `retry` (backoff, Retry-After, deferred hosts).
`crawler.settings` wires them into `DOWNLOADER_MIDDLEWARES`; import from the module itself.
"""
