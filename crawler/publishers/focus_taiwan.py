"""Focus Taiwan (CNA English): focustaiwan.tw, feed through FeedBurner.

The body sits in `.paragraph`; around it: an app banner, a text-to-speech notice, an audio player
driven by a `pAudio_url` script variable, a privacy banner and photo captions (in the figure and
again in a lightbox). trafilatura drops most of it on an article page, but on a page with no body
(a video page) it falls back to the privacy banner, so the furniture is pruned outright. The
authors appear only in a closing "(By A and B)" line, followed by an "Enditem/xx" desk code.
"""

from kuroshio.crawler.publishers import Publisher, by_class

PUBLISHER = Publisher(
    name="focus-taiwan",
    prune_xpaths=by_class(
        "app-banner", "updatetime", "tts-notice", "audio-player", "privacy-banner", "lightbox", "picinfo",
        "share-bar", "float-share",
    ),
    drop_lines=(r"Enditem/\w+",),
    byline=r"\(By (?P<authors>[^()]+)\)",
)
