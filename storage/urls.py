"""Which URLs are one article: one story, one URL, however it was linked.

Feeds, sitemaps and social links decorate article URLs with tracking parameters and fragments;
the store keys articles on the canonical form so a story linked three ways is fetched and kept once.

How far canonicalisation goes: `canonicalize_url` only drops what never names a different page
(tracking parameters, fragments, default ports, letter case of scheme and host); the stored URL keeps
its scheme and host as linked. Matching goes one step further: `url_variants` treats `http`/`https`
and a leading `www.` as the same page, because publishers serve one site under all four and nothing
else differs between them. No other host is merged (`news.example.com` is not `example.com`), and an
AMP page (`/amp/...`, `?amp=1`, an `amp.` host) is not rewritten by guessing: it is recognised by its
own `rel=canonical` link, which extraction reads, and kept as an alias of the article it points to.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

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
    if ":" in host:  # an IPv6 address keeps its brackets, or its colons would read as a port
        host = f"[{host}]"
    if parts.port and parts.port != DEFAULT_PORTS.get(scheme):
        host = f"{host}:{parts.port}"
    query = urlencode(
        [(key, value) for key, value in parse_qsl(parts.query, keep_blank_values=True) if not is_tracking(key)]
    )
    return urlunsplit((scheme, host, parts.path or "/", query, ""))


def url_variants(url: str) -> tuple[str, ...]:
    """`url` (canonicalised) first, then the same URL under the other scheme and with or without `www.`."""
    canonical = canonicalize_url(url)
    parts = urlsplit(canonical)
    if parts.scheme not in DEFAULT_PORTS or not parts.netloc:
        return (canonical,)
    bare = parts.netloc.removeprefix("www.")
    hosts = (bare, f"www.{bare}") if "." in bare and not _is_ip_address(bare) else (parts.netloc,)
    # An explicit port belongs to one scheme: only the default ports are the same site on both.
    schemes = ("https", "http") if parts.port is None else (parts.scheme,)
    variants = [canonical]
    for scheme in schemes:
        for host in hosts:
            variant = urlunsplit((scheme, host, parts.path, parts.query, ""))
            if variant not in variants:
                variants.append(variant)
    return tuple(variants)


def _is_ip_address(host: str) -> bool:
    return host.split(":", 1)[0].replace(".", "").isdigit() or host.startswith("[")


def is_tracking(parameter: str) -> bool:
    """Whether a query parameter only tracks the click."""
    name = parameter.lower()
    return name in TRACKING_PARAMETERS or name.startswith(TRACKING_PREFIXES)
