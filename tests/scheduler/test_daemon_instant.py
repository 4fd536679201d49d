"""An instant digest in the real daemon: the fixture web crawled by the daemon's own crawl process, each
new story posted once to a real HTTP endpoint on 127.0.0.1 through Apprise's json:// URL, and a
restart in between sends nothing twice (the daemon looks again at start, and finds nothing owed)."""

from __future__ import annotations

import test_daemon
from fixture_web import kuroshio
from test_daemon import KYODO_SOURCE, wait_for

from kuroshio.storage.digests import list_digest_attempts

site = test_daemon.site  # the daemon tests' fixtures: a fixture web with an overlay, a database, daemons
start_daemon = test_daemon.start_daemon


def attempts(site) -> list[str]:
    with site.sessions() as session:
        return [attempt.status for attempt in list_digest_attempts(session, digest="flash", limit=None)]


def test_an_instant_alert_reaches_the_endpoint_once_per_story_across_a_restart(site, start_daemon, webhook):
    config = site.config(KYODO_SOURCE + f"""
[[digests]]
name = "flash"
mode = "instant"
notify = ["{webhook.url('/flash')}"]
""")
    started = kuroshio(config, "digest", "flash", "--send")  # the watch starts: nothing stored yet, nothing sent
    assert started.returncode == 0 and "nothing new" in started.stdout, started.stderr

    daemon = start_daemon(config)  # kyodo was never crawled: the daemon crawls it at once
    wait_for(lambda: "ok" in attempts(site), timeout=90, what="the instant alerts of the first crawl", log=daemon)
    posted = [post.body["title"] for post in webhook.posts]
    assert posted and len(set(posted)) == len(posted)  # one message per story
    assert "Taiwan's Ko calls for deeper cooperation with Japan" in posted
    assert daemon.terminate()[0] == 0

    looked = len(attempts(site))
    restarted = start_daemon(config)  # its first look at start finds every story delivered
    wait_for(lambda: len(attempts(site)) > looked, timeout=60, what="the look after the restart", log=restarted)
    assert restarted.terminate()[0] == 0
    assert attempts(site)[0] == "empty" and [post.body["title"] for post in webhook.posts] == posted
    assert all(post.path == "/flash" and post.answered == 200 for post in webhook.posts)
