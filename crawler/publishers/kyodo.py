"""Kyodo News English: english.kyodonews.net, articles at /articles/-/<id>.

Photo captions (ending in "(Kyodo)") sit in figures between body paragraphs, which trafilatura
drops; a "Related coverage:" paragraph followed by linked headlines closes the article, which it
keeps.
"""

from kuroshio.crawler.publishers import Publisher

RELATED_COVERAGE = "//p[starts-with(normalize-space(.), 'Related coverage')]"

PUBLISHER = Publisher(
    name="kyodo",
    prune_xpaths=(
        # The headlines first (paragraphs that are nothing but one link), while the heading that
        # locates them is still in the tree: trafilatura prunes in order.
        f"{RELATED_COVERAGE}/following-sibling::p[a and normalize-space(.) = normalize-space(a)]",
        RELATED_COVERAGE,
    ),
)
