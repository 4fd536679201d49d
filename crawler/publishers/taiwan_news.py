"""Taiwan News (English): www.taiwannews.com.tw, articles at /en/news/<id>."""

from crawler.publishers import Publisher

PUBLISHER = Publisher(name="taiwan-news")
