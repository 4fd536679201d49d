from ipaddress import ip_address

import pytest

from kuroshio.crawler.addresses import HostError, SourceReach, host_address, internal_kind, internal_name_kind
from kuroshio.crawler.options import SourceConfig


@pytest.mark.parametrize(("address", "kind"), [
    ("127.0.0.1", "a loopback address"),
    ("127.8.9.10", "a loopback address"),
    ("::1", "a loopback address"),
    ("10.0.0.5", "a private address"),
    ("172.16.0.1", "a private address"),
    ("192.168.1.20", "a private address"),
    ("fc00::1", "a private address"),
    ("169.254.1.1", "a link-local address"),
    ("fe80::1", "a link-local address"),
    ("169.254.169.254", "a cloud metadata address"),
    ("fd00:ec2::254", "a cloud metadata address"),
    ("100.100.100.200", "a cloud metadata address"),
    ("0.0.0.0", "an unspecified address"),
    ("::", "an unspecified address"),
    ("224.0.0.1", "a multicast address"),
    ("240.0.0.1", "a reserved address"),
    ("100.64.0.1", "not a public address"),  # shared address space (carrier-grade NAT)
    ("::ffff:127.0.0.1", "a loopback address"),  # v4-mapped
    ("::ffff:a9fe:a9fe", "a cloud metadata address"),
    ("2002:7f00:1::", "a loopback address"),  # 6to4 of 127.0.0.1
    ("64:ff9b::a00:5", "a private address"),  # NAT64 of 10.0.0.5
])
def test_inside_addresses_are_told_by_kind(address, kind):
    assert internal_kind(ip_address(address)) == kind


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700::1111", "::ffff:93.184.215.14"])
def test_public_addresses_are_not_inside(address):
    assert internal_kind(ip_address(address)) is None


@pytest.mark.parametrize(("host", "address"), [
    ("127.0.0.1", "127.0.0.1"),
    ("2130706433", "127.0.0.1"),
    ("0x7f.1", "127.0.0.1"),
    ("0x7f000001", "127.0.0.1"),
    ("0177.0.0.1", "127.0.0.1"),
    ("127.1", "127.0.0.1"),
    ("169.254.169.254.", "169.254.169.254"),
    ("::ffff:127.0.0.1", "::ffff:127.0.0.1"),
    ("fe80::1%eth0", "fe80::1"),
])
def test_every_spelling_of_an_address_is_that_address(host, address):
    assert host_address(host) == ip_address(address)


@pytest.mark.parametrize("host", ["news.test", "1.example", "x127.0.0.1", "0x7g.1"])
def test_names_are_not_addresses(host):
    assert host_address(host) is None


def test_a_number_no_resolver_reads_is_refused_as_a_host():
    with pytest.raises(HostError):
        host_address("99999999999")


@pytest.mark.parametrize("host", ["localhost", "api.localhost", "printer.local", "metadata.google.internal",
                                  "router.home.arpa", "jenkins", "LOCALHOST."])
def test_names_that_are_always_inside(host):
    assert internal_name_kind(host) is not None


def test_an_ordinary_name_is_not_known_to_be_inside():
    assert internal_name_kind("focustaiwan.tw") is None


INTRANET = SourceConfig(name="intranet", listing_pages=("http://news.corp.test:8080/",),
                        allowed_domains=("news.corp.test", "cdn.test"), article_url_pattern="/n/")


def test_the_source_reaches_its_domains_and_their_subdomains_on_default_ports():
    reach = SourceReach.of(INTRANET)
    assert reach.off_source_reason("https://news.corp.test/n/1") is None
    assert reach.off_source_reason("http://img.cdn.test/a.jpg") is None
    assert reach.off_source_reason("http://news.corp.test:8080/n/1") is None  # the configured port


def test_other_hosts_and_ports_are_off_the_source():
    reach = SourceReach.of(INTRANET)
    assert reach.off_source_reason("http://evil.test/") == "evil.test is not one of the source's hosts"
    assert reach.off_source_reason("http://corp.test/") == "corp.test is not one of the source's hosts"
    assert reach.off_source_reason("http://img.cdn.test:8080/") == (
        "port 8080 of img.cdn.test is not a port of the source's configured URLs")
    assert reach.off_source_reason("http://news.corp.test:6379/") is not None
    assert reach.off_source_reason("http://news.corp.test:99999/") is not None


def test_only_hosts_the_configuration_names_may_be_inside():
    reach = SourceReach.of(INTRANET)
    assert reach.trusts("news.corp.test") and reach.trusts("cdn.test")
    assert not reach.trusts("img.cdn.test")
    assert not reach.trusts("127.0.0.1")


def test_without_allowed_domains_the_configured_hosts_are_the_source():
    reach = SourceReach.of(SourceConfig(name="feed", feeds=("http://feeds.news.test/rss",)))
    assert reach.holds_host("feeds.news.test") and reach.holds_host("www.feeds.news.test")
    assert not reach.holds_host("news.test")


def test_a_configured_feed_host_is_the_sources_but_not_one_of_its_allowed_domains():
    reach = SourceReach.of(SourceConfig(name="x", feeds=("http://feeds.test/rss",), allowed_domains=("news.test",)))
    assert reach.holds_host("feeds.test") and not reach.in_domains("feeds.test")
    assert reach.in_domains("news.test") and reach.in_domains("www.news.test") and not reach.in_domains("xnews.test")
