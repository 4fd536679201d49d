from dataclasses import fields
from pathlib import Path

import pytest

from kuroshio.crawler.options import CrawlConfig
from kuroshio.scheduler.config import (
    BUILTIN_SOURCES,
    SECTIONS,
    ConfigError,
    load_config,
    settings_reference,
)

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "kuroshio.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_without_a_file_the_builtin_publishers_and_topic_are_used(monkeypatch):
    monkeypatch.delenv("KUROSHIO_CONFIG", raising=False)
    monkeypatch.delenv("KUROSHIO_DATABASE_URL", raising=False)
    config = load_config()
    assert [s.name for s in config.sources] == ["focus-taiwan", "kyodo", "taiwan-news"]
    assert [t.name for t in config.topics] == ["taiwan-japan"]
    assert config.storage_url.startswith("sqlite:///")
    assert config.path is None


def test_builtin_focus_taiwan_feed_lives_off_its_allowed_domain():
    focus = BUILTIN_SOURCES[0]
    assert focus.feeds == ("https://feeds.feedburner.com/rsscna/engnews",)
    assert focus.domains == ("focustaiwan.tw",)


def test_file_sources_and_topics_replace_the_builtin_lists(tmp_path):
    path = write(tmp_path, """
[storage]
url = "sqlite:////tmp/x.db"
[[sources]]
name = "example"
feeds = ["https://news.example.org/rss.xml"]
[[topics]]
name = "chips"
query = 'semiconductor* AND (Taiwan OR Japan)'
min_score = 1
""")
    config = load_config(path)
    assert [s.name for s in config.sources] == ["example"]
    assert config.sources[0].domains == ("news.example.org",)
    assert [t.name for t in config.topics] == ["chips"]
    assert config.topics[0].min_score == 1.0
    assert config.storage_url == "sqlite:////tmp/x.db"


def test_environment_database_url_overrides_the_file(tmp_path, monkeypatch):
    path = write(tmp_path, '[storage]\nurl = "sqlite:////tmp/file.db"\n')
    monkeypatch.setenv("KUROSHIO_DATABASE_URL", "sqlite:////tmp/env.db")
    assert load_config(path).storage_url == "sqlite:////tmp/env.db"


def test_config_path_comes_from_the_environment_when_not_given(tmp_path, monkeypatch):
    path = write(tmp_path, '[crawl]\ntimeout = 5\n')
    monkeypatch.setenv("KUROSHIO_CONFIG", str(path))
    assert load_config().crawl.timeout == 5


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ('[crawl]\ntimout = 5\n', "crawl.timout", "unknown key"),
        ('[crawl]\ntimeout = "fast"\n', "crawl.timeout", "expected int or float, got str"),
        ('[crawl]\nobey_robots = 1\n', "crawl.obey_robots", "expected bool, got int"),
        ('[crawl]\ntimeout = true\n', "crawl.timeout", "expected int or float, got bool"),
        ('[storag]\nurl = "x"\n', "storag", "unknown section"),
        ('[storage]\nurl = "kuroshio.db"\n', "storage.url", "expected a database URL"),
        ('[[sources]]\nfeeds = ["https://a.example/rss"]\n', "sources[0].name", "required key is missing"),
        ('[[sources]]\nname = "a"\nfeedz = ["https://a.example/rss"]\n', "sources[0].feedz", "unknown key"),
        ('[[sources]]\nname = "a"\n', "sources[0]", "at least one of feeds"),
        ('[[sources]]\nname = "a"\nfeeds = ["ftp://a.example/rss"]\n', "sources[0]", "expected an http(s) URL"),
        ('[[sources]]\nname = "a"\nfeeds = [3]\n', "sources[0].feeds[0]", "expected a non-empty string"),
        ('[[sources]]\nname = "a"\nlisting_pages = ["https://a.example/"]\n',
         "sources[0].article_url_pattern", "required when listing_pages"),
        ('[[sources]]\nname = "a"\nfeeds = ["https://a.example/rss"]\narticle_url_pattern = "("\n',
         "sources[0].article_url_pattern", "not a valid regular expression"),
        ('[[sources]]\nname = "a"\nfeeds = ["https://a.example/rss"]\npublisher = "nyt"\n',
         "sources[0].publisher", "unknown publisher"),
        ('[[sources]]\nname = "a"\nfeeds = ["https://a.example/rss"]\n[[sources]]\nname = "a"\nfeeds = ["https://b.example/rss"]\n',
         "sources[1].name", "duplicate name"),
        ('[[topics]]\nname = "t"\nquery = "(Taiwan AND Japan"\n', "topics[0].query", "unbalanced parenthesis"),
        ('[[topics]]\nname = "t"\n', "topics[0].query", "required key is missing"),
        ('sources = "all"\n', "sources", "expected an array of tables"),
    ],
)
def test_a_bad_config_is_one_line_naming_the_file_and_the_key(tmp_path, text, key, problem):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: {key}: "), message
    assert problem in message
    assert "\n" not in message


def test_invalid_toml_names_the_file_and_the_line(tmp_path):
    path = write(tmp_path, "[crawl\n")
    with pytest.raises(ConfigError, match=rf"^{path}: not valid TOML: .*line 1"):
        load_config(path)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "absent.toml")


def test_every_option_is_declared_once_with_its_default_and_help():
    assert SECTIONS["crawl"] is CrawlConfig
    assert CrawlConfig().obey_robots is True
    for options in SECTIONS.values():
        for option in fields(options):
            assert option.metadata["help"], f"{options.__name__}.{option.name} has no help"


def test_readme_settings_table_is_derived_from_the_declarations():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert settings_reference() in readme


def test_bundled_demo_config_is_valid():
    config = load_config(REPO / "fixtures" / "demo.toml")
    assert {s.name for s in config.sources} == {"focus-taiwan", "kyodo", "taiwan-news"}


def test_daemon_smtp_and_digest_settings_are_read_and_parsed(tmp_path):
    path = write(tmp_path, """
[daemon]
every = "15m"
misfire_grace = "2h"
[smtp]
host = "127.0.0.1"
port = 2525
security = "starttls"
password_env = "KUROSHIO_SMTP_PASSWORD"
sender = "Kuroshio <kuroshio@example.org>"
[[sources]]
name = "a"
feeds = ["https://a.example/rss"]
every = "90s"
[[sources]]
name = "b"
feeds = ["https://b.example/rss"]
cron = "*/15 * * * *"
[[digests]]
name = "morning"
topics = ["taiwan-japan"]
to = ["analyst@example.org"]
cron = "0 8 * * *"
timezone = "Asia/Taipei"
""")
    config = load_config(path)
    assert config.daemon.every == 900 and config.daemon.misfire_grace == 7200
    assert config.daemon.crawl_timeout == 1200  # declared default, parsed
    assert (config.smtp.port, config.smtp.security) == (2525, "starttls")
    assert [config.source_schedule(s.name).every for s in config.sources] == [90, None]
    assert config.source_schedule("b").cron == "*/15 * * * *"
    [digest] = config.digests
    assert config.digest_schedule("morning").cron == "0 8 * * *"
    assert (digest.name, digest.topics, digest.to, digest.timezone) == (
        "morning", ("taiwan-japan",), ("analyst@example.org",), "Asia/Taipei")
    assert digest.send_empty is False and digest.max_articles == 200


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ('[daemon]\nevery = "often"\n', "daemon.every", "expected a duration"),
        ('[smtp]\nsecurity = "tls"\n', "smtp.security", "expected one of none, starttls, ssl"),
        ('[[sources]]\nname = "a"\nfeeds = ["https://a.example/rss"]\ncron = "every day"\n',
         "sources[0].cron", "expected a crontab expression"),
        ('[[sources]]\nname = "a"\nfeeds = ["https://a.example/rss"]\ncron = "* * * * *"\nevery = "5m"\n',
         "sources[0].cron", "either every or cron"),
        ('[[digests]]\nname = "d"\nto = ["a@example.org"]\ntimezone = "Mars/Olympus"\n',
         "digests[0].timezone", "expected an IANA time zone"),
        ('[[digests]]\nname = "d"\nto = ["a@example.org"]\ntopics = ["weather"]\n',
         "digests[0].topics", "unknown topic 'weather'"),
        ('[[digests]]\nname = "d"\nto = ["not an address"]\n', "digests[0].to", "expected an email address"),
        ('[[digests]]\nname = "d"\n', "digests[0].to", "at least one recipient is needed"),
    ],
)
def test_bad_daemon_and_digest_settings_name_file_and_key(tmp_path, text, key, problem):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert str(raised.value).startswith(f"{path}: {key}: ")
    assert problem in str(raised.value)
