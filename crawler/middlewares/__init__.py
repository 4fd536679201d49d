"""Downloader middlewares Kuroshio adds to Scrapy's, one module per Scrapy settings group, as in
`scrapy.downloadermiddlewares`: `httpproxy` (the proxy), `robotstxt` (robots.txt policy and Crawl-delay),
`redirect` (loops and off-domain redirects), `retry` (backoff, Retry-After, deferred hosts), `addresses`
(no request off its source's hosts and ports, or inside the network; the resolver that connects to
the address judged).
`crawler.settings` wires them into `DOWNLOADER_MIDDLEWARES`; import from the module itself.
"""
