"""Focus Taiwan (CNA English): focustaiwan.tw, feed through FeedBurner.

The body sits in `.paragraph`; around it: an app banner, a text-to-speech notice, an audio player
driven by a `pAudio_url` script variable, a privacy banner and photo captions. The authors appear
only in a closing "(By A and B)" line, followed by an "Enditem/xx" desk code.
"""

from crawler.publishers import Publisher

PUBLISHER = Publisher(
    name="focus-taiwan",
    prune_xpaths=(),
    drop_lines=(r"Enditem/\w+",),
    byline=r"\(By (?P<authors>[^()]+)\)",
)
