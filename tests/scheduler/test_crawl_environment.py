"""What a crawl process started by the daemon is given of the daemon's environment (scheduler/daemon.py):
what it needs, never a secret. The daemon itself is run in tests/faults/test_secrets.py."""

from __future__ import annotations

from dataclasses import replace

from kuroshio.digest.options import DigestConfig, SmtpConfig
from kuroshio.scheduler.config import builtin_config
from kuroshio.scheduler.daemon import crawl_environment

DAEMON_ENVIRONMENT = {
    "PATH": "/usr/bin", "HOME": "/var/lib/kuroshio", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TZ": "UTC",
    "PYTHONPATH": "/opt/extensions", "https_proxy": "http://proxy:3128", "NO_PROXY": "localhost",
    "KUROSHIO_DATA_DIR": "/var/lib/kuroshio", "KUROSHIO_CONFIG": "/etc/kuroshio/kuroshio.toml",
    "KUROSHIO_SMTP_PASSWORD": "smtp-secret", "KUROSHIO_DATABASE_PASSWORD": "db-secret",
    "AWS_SECRET_ACCESS_KEY": "aws-secret", "INVOCATION_ID": "0f3c", "PYTHON_SMTP_SECRET": "renamed-secret",
}


def test_a_crawl_gets_what_it_needs_and_the_database_url_with_its_password() -> None:
    config = replace(builtin_config(), storage_url="postgresql+psycopg://kuroshio:db-secret@db/kuroshio")
    given = crawl_environment(config, DAEMON_ENVIRONMENT)
    assert given == {
        "PATH": "/usr/bin", "HOME": "/var/lib/kuroshio", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TZ": "UTC",
        "PYTHONPATH": "/opt/extensions", "https_proxy": "http://proxy:3128", "NO_PROXY": "localhost",
        "KUROSHIO_DATA_DIR": "/var/lib/kuroshio", "PYTHON_SMTP_SECRET": "renamed-secret",
        "KUROSHIO_DATABASE_URL": "postgresql+psycopg://kuroshio:db-secret@db/kuroshio",
    }


def test_the_smtp_password_is_withheld_even_under_an_allowed_name() -> None:
    config = replace(builtin_config(), smtp=SmtpConfig(password_env="PYTHON_SMTP_SECRET"))
    given = crawl_environment(config, DAEMON_ENVIRONMENT)
    assert "PYTHON_SMTP_SECRET" not in given and "PYTHONPATH" in given


def test_a_digests_apprise_urls_are_withheld_even_under_an_allowed_name() -> None:
    base = builtin_config()
    digest = DigestConfig(name="alerts", notify_env="PYTHON_SMTP_SECRET")
    config = replace(base, digests=(*base.digests, digest))
    given = crawl_environment(config, DAEMON_ENVIRONMENT)
    assert "PYTHON_SMTP_SECRET" not in given and "PYTHONPATH" in given
