"""URL canonicalisation: one story, one URL, however it was linked.

Feeds, sitemaps and social links decorate article URLs with tracking parameters and fragments;
the store keys articles on the canonical form so a story linked three ways is fetched and kept once.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

# Parameters that identify a campaign or a click, never the page itself.
TRACKING_PARAMETERS = frozenset(
    {"fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "ocid", "cmpid", "igshid", "ref_src", "spm"}
)
TRACKING_PREFIXES = ("utm_", "_hs", "pk_", "mtm_")
DEFAULT_PORTS = {"http": 80, "https": 443}


def canonicalize_url(url: str) -> str:
    """The URL with scheme and host lower-cased, default port, fragment and tracking parameters dropped.

    The remaining query keeps its order: some sites route on it, and reordering would make a new URL.
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if parts.port and parts.port != DEFAULT_PORTS.get(scheme):
        host = f"{host}:{parts.port}"
    query = urlencode(
        [(key, value) for key, value in parse_qsl(parts.query, keep_blank_values=True) if not is_tracking(key)]
    )
    return urlunsplit((scheme, host, parts.path or "/", query, ""))


def is_tracking(parameter: str) -> bool:
    """Whether a query parameter only tracks the click."""
    name = parameter.lower()
    return name in TRACKING_PARAMETERS or name.startswith(TRACKING_PREFIXES)


def absolute_http_url(href: str, *, base: str) -> str | None:
    """`href` resolved against `base` when it is an http(s) link, else None (javascript:, mailto:, file:)."""
    resolved = urljoin(base, href.strip())
    if urlsplit(resolved).scheme not in ("http", "https"):
        return None
    return resolved
