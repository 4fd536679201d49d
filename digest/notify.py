"""Alerts beyond email: a digest's Apprise targets (Slack, Teams, Telegram, Discord, ntfy, a JSON webhook
and the rest of https://github.com/caronc/apprise/wiki), each sent to on its own.

Settings: `digests[].notify`, Apprise URLs written in the file (for those that hold no secret), and
`digests[].notify_env`, the name of an environment variable holding more of them (separated by
spaces, commas or new lines), read when sending and never from the file, as `smtp.password_env`
holds the SMTP password: where a URL carries a token or a password.

Secrets: a URL is never logged, shown or stored as written. Its `label` is the URL cut before its
query with every part Apprise's own privacy mode hides (tokens, passwords, webhook ids) replaced by
`***`; the store keys a target's deliveries by that label and a short hash of the whole URL
(`AppriseTarget.key`), so two webhooks differing only in their token stay apart. Apprise logs
through its logger `apprise`, which this module keeps from propagating: what it says while sending
is logged here at DEBUG with the same parts masked, and its warnings are the reason a failure gives.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

logger = logging.getLogger(__name__)

APPRISE_LOGGER = "apprise"
MAX_LABEL_CHARS = 180  # the key adds a space and a 12-digit hash: within digest_target_deliveries.target
# What separates the parts of a URL that can be a secret: a token never holds one of these unquoted.
_SEPARATORS = re.compile(r"[/:@?&=#,+;\s]+")
_LIST_SEPARATORS = re.compile(r"[\s,]+")
MIN_SECRET_CHARS = 3


class NotifyError(Exception):
    """A target did not accept the message, or cannot be used; the text names it by its label only."""


@dataclass(frozen=True)
class AppriseTarget:
    """One Apprise URL of a digest, with the forms of it that are safe to show."""

    url: str
    label: str
    secrets: tuple[str, ...]

    @property
    def key(self) -> str:
        """How the store names this target: its label and a hash of the whole URL (secrets included)."""
        return f"{self.label[:MAX_LABEL_CHARS]} {hashlib.sha256(self.url.encode()).hexdigest()[:12]}"

    def mask(self, text: str) -> str:
        """`text` with every secret of this URL replaced by ***."""
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


def apprise_target(url: str) -> AppriseTarget:
    """The target of Apprise URL `url`; NotifyError (naming only its scheme) when Apprise cannot use it."""
    import apprise

    with _apprise_log() as said:
        plugin = apprise.Apprise.instantiate(url)
    if plugin is None:
        scheme = url.split("://", 1)[0] if "://" in url else ""
        shown = f"{scheme}://..." if scheme.isidentifier() else "a URL without a scheme"
        # Apprise's warning says which part is wrong ("An invalid Slack (second) Token ..."); its errors
        # only quote the URL. Every part of the URL is masked in it: any could be the secret.
        warnings = [_mask_every_part(line.split(" - ", 1)[-1], url) for line in said if line.startswith("WARNING")]
        hint = f" ({warnings[0]})" if warnings else ""
        raise NotifyError(f"not an Apprise URL: {shown}{hint}; see https://github.com/caronc/apprise/wiki "
                          "for the services and how their URLs read")
    hidden = _hidden_parts(url, str(plugin.url(privacy=True)))
    pieces = re.split(f"({_SEPARATORS.pattern})", url.split("?", 1)[0])
    label = "".join("***" if position % 2 == 0 and piece in hidden else piece
                    for position, piece in enumerate(pieces))
    forms = hidden | {unquote(part) for part in hidden} | {quote(unquote(part), safe="") for part in hidden}
    forms |= _basic_auth_forms(url)
    # A part of one or two characters is no secret worth the name, and masking it would garble every line.
    secrets = tuple(sorted((form for form in forms if len(form) >= MIN_SECRET_CHARS), key=len, reverse=True))
    return AppriseTarget(url=url, label=label, secrets=secrets)


def url_problem(url: str) -> str | None:
    """Why Apprise cannot use `url` (without quoting it: it may hold a secret), or None."""
    try:
        apprise_target(url)
    except NotifyError as error:
        return str(error)
    return None


def digest_targets(urls: tuple[str, ...], notify_env: str, environ: Mapping[str, str] | None = None) -> list[AppriseTarget]:
    """The Apprise targets of a digest: `urls` (from the file) and those in the variable `notify_env`.

    NotifyError when the variable is named but empty or unset, or holds a URL Apprise cannot use.
    """
    environ = os.environ if environ is None else environ
    targets = [apprise_target(url) for url in urls]
    if notify_env:
        value = environ.get(notify_env, "")
        from_environment = [url for url in _LIST_SEPARATORS.split(value) if url]
        if not from_environment:
            raise NotifyError(f"notify_env is set but the variable ${notify_env} is empty or not set")
        for position, url in enumerate(from_environment, start=1):
            try:
                targets.append(apprise_target(url))
            except NotifyError as error:
                raise NotifyError(f"${notify_env}, URL {position}: {error}") from None
    return list({target.key: target for target in targets}.values())


def notify(target: AppriseTarget, *, title: str, body: str) -> None:
    """Send one message (plain text) to `target`; NotifyError, its secrets masked, when not accepted."""
    import apprise

    plugin = apprise.Apprise.instantiate(target.url)
    if plugin is None:  # checked when the target was made; a URL does not stop being valid
        raise NotifyError(f"{target.label}: not an Apprise URL")
    with _apprise_log() as said:
        try:
            accepted = plugin.notify(body=body, title=title, body_format=apprise.NotifyFormat.TEXT)
        except Exception as error:  # ~100 third-party integrations: one that raises fails its target, not the digest
            said.append(f"{type(error).__name__}: {error}")
            accepted = False
    for line in said:
        logger.debug("apprise (%s): %s", target.label, target.mask(line))
    if not accepted:
        reasons = [target.mask(line) for line in said if line.startswith(("WARNING", "ERROR", "CRITICAL"))]
        reason = "; ".join(" ".join(line.split(" - ", 1)[-1].split()) for line in reasons[-3:]) or "not accepted"
        raise NotifyError(f"{target.label}: {reason}")


def _hidden_parts(url: str, private: str) -> set[str]:
    """The parts of `url` past its scheme that Apprise's privacy form `private` does not show."""
    shown = {part for piece in _SEPARATORS.split(private) for part in (piece, *_SEPARATORS.split(unquote(piece)))}
    parts = _SEPARATORS.split(url.split("://", 1)[-1])
    return {part for part in parts if part and part not in shown and unquote(part) not in shown}


def _basic_auth_forms(url: str) -> set[str]:
    """A URL's user and password as HTTP basic authentication sends them (base64, with and without its
    padding): a server answering an error may echo the Authorization header, and Apprise logs answers."""
    try:
        parts = urlsplit(url)
        user, password = parts.username, parts.password
    except ValueError:  # a port that is no number: Apprise refuses such a URL anyway
        return set()
    if not password:
        return set()
    sent = base64.b64encode(f"{unquote(user or '')}:{unquote(password)}".encode()).decode("ascii")
    return {sent, sent.rstrip("=")}


def _mask_every_part(text: str, url: str) -> str:
    """`text` with every part of `url` past its scheme (three characters or more) replaced by ***."""
    written = url.split("://", 1)[-1]
    parts = {form for part in _SEPARATORS.split(written) for form in (part, unquote(part))
             if len(form) >= MIN_SECRET_CHARS}
    for part in sorted(parts, key=len, reverse=True):
        text = text.replace(part, "***")
    return " ".join(text.split())


class _ThisThread(logging.Handler):
    """Collects what Apprise logs in the thread that installed it (digests are sent from several)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.thread = threading.get_ident()
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s - %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.lines.append(self.format(record))


@contextmanager
def _apprise_log() -> Iterator[list[str]]:
    """What Apprise logs in this thread meanwhile, as "LEVEL - message" lines; none of it reaches the
    program's own handlers unmasked."""
    apprise_logger = logging.getLogger(APPRISE_LOGGER)
    apprise_logger.propagate = False
    handler = _ThisThread()
    apprise_logger.addHandler(handler)
    try:
        yield handler.lines
    finally:
        apprise_logger.removeHandler(handler)
