"""Focus Taiwan (CNA English): focustaiwan.tw, feed through FeedBurner (`rsscna/engnews`).

Two markup generations: the current CMS (`/<section>/<12 digits>`, since the 2019-2020 redesign) and
the ASP.NET one before it (`/news/a<desk>/<12 digits>.aspx`). Both keep the body in `.paragraph` and
carry no structured date: the only date is the visible stamp, `MM/DD/YYYY hh:mm AM/PM` now and
`YYYY/MM/DD hh:mm` before, Taipei time. The authors appear in a "(By A and B)" line closing the
body (older pages: in `div.author`), followed by "Enditem/" and a desk code, or nothing.

Around the body: an app banner, the text-to-speech notice and its "0:00 / 0:00" player, a privacy
banner ("We value your privacy ... Got it."), share counts, the edition switcher and the photo
caption twice (under the photo and again in a lightbox). trafilatura drops most of it on an article
page, but on a page with no body (a video page) it falls back to the privacy banner, so furniture is
pruned outright — by what it says, as a redesign renames classes.
"""

from kuroshio.crawler.publishers import Publisher, by_class

PHOTO_CREDIT = r"(?:CNA (?:file )?photo|Photo (?:courtesy of|taken from) [^.]{1,100})\.?"

PUBLISHER = Publisher(
    name="focus-taiwan",
    prune_xpaths=by_class("updatetime"),
    prune_texts=(
        r"Focus Taiwan App\W*(?:Download|Open|Install)?\W*",
        r"To activate the text-to-speech service, please first agree to the privacy policy below\.",
        r"\d{1,2}:\d{2}\s*/\s*\d{1,2}:\d{2}",  # the audio player's "0:00 / 0:00"
        r"We value your privacy\b.*\b(?:agree with this policy\.|Learn more|Got it\.?)\W*",
        r"(?:(?:English|中文|日本語)\s*\|?\s*){2,3}",  # the edition switcher
        rf".{{0,300}}\b{PHOTO_CREDIT}",  # a photo caption, under the photo and in the lightbox
    ),
    drop_lines=(
        r"Enditem/\w*",
        r"\d{1,6}",  # a share count
        r"\d{2}/\d{2}/\d{4} \d{2}:\d{2} [AP]M|\d{4}/\d{2}/\d{2} \d{2}:\d{2}",  # the date stamp
        r"(?:Copyright\s*)?©\s*(?:\d{4}\s*)?CNA English News\b.{0,80}",
    ),
    byline=r"\(By (?P<authors>[^()]+)\)",
    author_xpaths=("//div[contains(concat(' ', normalize-space(@class), ' '), ' author ')]",),
    credits=(r"Focus Taiwan", r"CNA(?: English News)?", r"Central News Agency"),
    timezone="Asia/Taipei",
    date_formats=("%m/%d/%Y %I:%M %p", "%Y/%m/%d %H:%M"),
)
