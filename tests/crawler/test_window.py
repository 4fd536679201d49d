"""The lookback window (`kuroshio.crawler.window`): which dated links a crawl fetches, on evidence alone."""

from datetime import datetime, timedelta, timezone

from kuroshio.crawler.discover import DiscoveredLink
from kuroshio.crawler.window import LASTMOD_SLACK, NO_WINDOW, CrawlWindow, no_link_in_window_note

START = datetime(2025, 11, 25, tzinfo=timezone.utc)
WINDOW = CrawlWindow(START)
HOUR = timedelta(hours=1)


def link(name: str, *, published: datetime | None = None, modified: datetime | None = None) -> DiscoveredLink:
    return DiscoveredLink(f"http://a.test/{name}", published, modified)


def test_a_publication_date_before_the_window_is_left_out_even_by_a_minute():
    assert WINDOW.admits(link("in", published=START))
    assert not WINDOW.admits(link("out", published=START - timedelta(minutes=1)))


def test_a_merely_stale_lastmod_is_fetched_and_a_far_older_one_is_not():
    assert WINDOW.admits(link("stale", modified=START - LASTMOD_SLACK + HOUR))
    assert not WINDOW.admits(link("old", modified=START - LASTMOD_SLACK - HOUR))


def test_a_publication_date_outweighs_the_lastmod():
    """A news sitemap entry republished (lastmod now) but published last year is old."""
    assert not WINDOW.admits(link("republished", published=START - 365 * 24 * HOUR, modified=START + HOUR))


def test_an_undated_link_is_always_admitted_and_no_window_admits_everything():
    assert WINDOW.admits(link("undated"))
    assert NO_WINDOW.admits(link("ancient", published=datetime(1999, 1, 1, tzinfo=timezone.utc)))


def test_select_orders_the_window_newest_first_with_the_undated_after():
    links = [link("undated-1"), link("old", published=START - 48 * HOUR), link("newer", published=START + 5 * HOUR),
             link("undated-2"), link("newest", modified=START + 9 * HOUR)]
    selected, too_old = WINDOW.select(links)
    assert [chosen.url.rsplit("/", 1)[1] for chosen in selected] == ["newest", "newer", "undated-1", "undated-2"]
    assert too_old == 1


def test_a_lastmod_every_entry_shares_is_no_evidence():
    """Taiwan News' lastmod is frozen: one old value on every entry must not hide this week's articles."""
    frozen = datetime(2019, 3, 15, tzinfo=timezone.utc)
    selected, too_old = WINDOW.select([link(f"n{n}", modified=frozen) for n in range(4)])
    assert (len(selected), too_old) == (4, 0)
    # The same lastmods, each differing, are evidence: an old archive.
    selected, too_old = WINDOW.select([link(f"n{n}", modified=frozen + n * HOUR) for n in range(4)])
    assert (len(selected), too_old) == (0, 4)


def test_an_index_whose_every_sitemap_is_old_still_yields_its_newest():
    sitemaps = [link(f"{year}.xml", modified=datetime(year, 12, 31, tzinfo=timezone.utc)) for year in (2022, 2024, 2023)]
    selected, too_old = WINDOW.select_sitemaps(sitemaps)
    assert [sitemap.url for sitemap in selected] == ["http://a.test/2024.xml"]
    assert too_old == 2


def test_an_index_skips_the_sitemaps_last_changed_before_the_window():
    sitemaps = [link("2024.xml", modified=datetime(2024, 12, 31, tzinfo=timezone.utc)),
                link("2025.xml", modified=START + HOUR), link("undated.xml")]
    selected, too_old = WINDOW.select_sitemaps(sitemaps)
    assert [sitemap.url.rsplit("/", 1)[1] for sitemap in selected] == ["2025.xml", "undated.xml"]
    assert too_old == 1


def test_the_note_names_a_crawl_that_found_only_links_before_the_window():
    note = no_link_in_window_note(window=WINDOW, too_old=9, admitted=0)
    assert note is not None and note.startswith("no link in the window: all 9 links found were dated before 2025-11-25")
    assert no_link_in_window_note(window=WINDOW, too_old=9, admitted=1) is None
    assert no_link_in_window_note(window=NO_WINDOW, too_old=9, admitted=0) is None

