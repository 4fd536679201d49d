"""The address policy middleware and its resolver, driven directly: what each request is refused for, and
that a connection is made to the address judged (DNS rebinding)."""

import asyncio
from types import SimpleNamespace

import pytest
import scrapy
from scrapy.settings import Settings
from scrapy.statscollectors import MemoryStatsCollector
from twisted.internet.error import DNSLookupError

from kuroshio.crawler.middlewares import addresses
from kuroshio.crawler.middlewares.addresses import AddressPolicyMiddleware, AddressRefused, CheckedAddressResolver
from kuroshio.crawler.options import SourceConfig

SOURCE = SourceConfig(name="news", feeds=("http://news.test/feed.xml",))
HOSTS = {"news.test": ["93.184.215.14"], "rebind.news.test": ["93.184.215.14"],
         "inside.news.test": ["93.184.215.14", "10.0.0.7"], "v6.news.test": ["fd00::7"]}


@pytest.fixture(autouse=True)
def forget_answers():
    addresses._answers.clear()
    yield
    addresses._answers.clear()


def middleware(*, proxy: str = "", hosts: dict | None = HOSTS) -> AddressPolicyMiddleware:
    settings = Settings({"KUROSHIO_PROXY": proxy, "KUROSHIO_HOSTS": hosts})
    spider = SimpleNamespace(source=SOURCE, errors=[])
    spider.record_error = lambda url, reason: spider.errors.append((url, reason))
    crawler = SimpleNamespace(settings=settings, spider=spider, stats=None)
    crawler.stats = MemoryStatsCollector(crawler)
    return AddressPolicyMiddleware(crawler)  # type: ignore[arg-type]


def refusal(policy: AddressPolicyMiddleware, url: str, *, errback=print, **meta) -> str | None:
    try:
        asyncio.run(policy.process_request(scrapy.Request(url, meta=meta, errback=errback)))
    except AddressRefused as refused:
        return str(refused)
    return None


def test_a_public_host_of_the_source_is_allowed():
    assert refusal(middleware(), "http://news.test/a") is None


def test_one_inside_answer_is_enough_to_refuse():
    assert refusal(middleware(), "http://inside.news.test/a") == (
        "refused: inside.news.test resolves to 10.0.0.7, a private address")


def test_an_ipv6_answer_is_judged_too():
    assert refusal(middleware(), "http://v6.news.test/a") == "refused: v6.news.test resolves to fd00::7, a private address"


def test_a_redirect_hop_is_refused_with_its_target():
    assert refusal(middleware(), "http://inside.news.test/b", redirect_urls=["http://news.test/a"]) == (
        "refused: redirected to http://inside.news.test/b: inside.news.test resolves to 10.0.0.7, a private address")


def test_a_refused_request_of_scrapy_itself_is_recorded_on_the_spider():
    """robots.txt requests have no errback: the middleware records their refusal (the spider's own
    requests are recorded by their errback)."""
    policy = middleware()
    refusal(policy, "http://inside.news.test/robots.txt", errback=None, redirect_urls=["http://news.test/robots.txt"])
    refusal(policy, "http://inside.news.test/a")
    assert policy.crawler.spider.errors == [("http://news.test/robots.txt", "refused: redirected to "
                                             "http://inside.news.test/robots.txt: inside.news.test resolves to "
                                             "10.0.0.7, a private address")]


def test_a_name_that_does_not_resolve_is_the_proxys_business():
    assert refusal(middleware(proxy="http://127.0.0.1:3128"), "http://unknown.news.test/a") is None


def test_without_a_proxy_a_name_that_does_not_resolve_fails_as_a_lookup():
    with pytest.raises(DNSLookupError):
        refusal(middleware(), "http://unknown.news.test/a")


def test_a_name_always_inside_is_refused_without_a_lookup():
    source = SourceConfig(name="news", feeds=("http://news.test/feed.xml",), allowed_domains=("news.test", "localhost"))
    policy = middleware(proxy="http://127.0.0.1:3128")
    policy._reach = None
    policy.crawler.spider.source = source
    assert refusal(policy, "http://a.localhost/") == "refused: a.localhost is a name reserved for private networks"


def test_the_resolver_connects_to_the_address_judged_not_a_new_answer():
    assert refusal(middleware(), "http://rebind.news.test/a") is None
    resolver = CheckedAddressResolver(reactor=SimpleNamespace(), cache_size=0, timeout=1.0)  # type: ignore[arg-type]
    resolver.hosts = {"rebind.news.test": (addresses.ip_address("127.0.0.1"),)}  # the name's answer changed since
    answered = []
    resolver.getHostByName("rebind.news.test").addCallback(answered.append)
    assert answered == ["93.184.215.14"]


def test_the_resolver_answers_only_from_a_closed_hosts_table():
    resolver = CheckedAddressResolver(reactor=SimpleNamespace(), cache_size=0, timeout=1.0)  # type: ignore[arg-type]
    resolver.hosts = {"news.test": (addresses.ip_address("93.184.215.14"),)}
    answered, failed = [], []
    resolver.getHostByName("news.test").addCallback(answered.append)
    resolver.getHostByName("127.0.0.1").addCallback(answered.append)
    resolver.getHostByName("elsewhere.test").addErrback(failed.append)
    assert answered == ["93.184.215.14", "127.0.0.1"]
    assert [failure.type for failure in failed] == [DNSLookupError]
