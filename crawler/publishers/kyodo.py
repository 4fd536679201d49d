"""Kyodo News English: english.kyodonews.net, articles at /articles/-/<id>.

Photo captions (ending in "(Kyodo)") sit between body paragraphs, and a "Related coverage:" block
with linked headlines closes the article.
"""

from crawler.publishers import Publisher

PUBLISHER = Publisher(
    name="kyodo",
    prune_xpaths=(),
)
