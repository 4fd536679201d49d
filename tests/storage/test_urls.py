import pytest

from kuroshio.crawler.discover import absolute_http_url
from kuroshio.storage.urls import canonicalize_url, url_variants


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("http://focustaiwan.test/business/202512020023?utm_source=feedburner&utm_medium=rss",
         "http://focustaiwan.test/business/202512020023"),
        ("HTTPS://Example.ORG:443/a/b#comments", "https://example.org/a/b"),
        ("http://example.org:8080/a?id=7&fbclid=xyz&page=2", "http://example.org:8080/a?id=7&page=2"),
        ("http://example.org", "http://example.org/"),
    ],
)
def test_canonical_url_drops_tracking_fragments_and_default_ports(url, canonical):
    assert canonicalize_url(url) == canonical


def test_canonical_url_keeps_the_order_of_real_query_parameters():
    assert canonicalize_url("http://a.example/p?b=2&a=1") == "http://a.example/p?b=2&a=1"


@pytest.mark.parametrize("href", ["javascript:alert(1)", "file:///etc/passwd", "mailto:x@example.org"])
def test_non_http_links_are_never_followed(href):
    assert absolute_http_url(href, base="http://a.example/") is None


def test_relative_and_protocol_less_links_resolve_against_the_page():
    assert absolute_http_url("/en/news/1", base="http://b.example/en/") == "http://b.example/en/news/1"
    assert absolute_http_url("//c.example/x", base="https://b.example/") == "https://c.example/x"


def test_an_ipv6_host_keeps_its_brackets():
    assert canonicalize_url("HTTP://[2001:DB8::1]:8080/a?utm_source=x#top") == "http://[2001:db8::1]:8080/a"
    assert url_variants("http://[2001:db8::1]/a") == ("http://[2001:db8::1]/a", "https://[2001:db8::1]/a")
