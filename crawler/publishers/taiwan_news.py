"""Taiwan News (English): www.taiwannews.com.tw, articles at /en/news/<id>."""

from kuroshio.crawler.publishers import Publisher

PUBLISHER = Publisher(name="taiwan-news")
