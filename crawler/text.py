"""Web text made safe to show on one line: a stored title, a digest's excerpt, an email header.

Page text is hostile input: a title may hold CR/LF (header injection), a bidirectional override (a
title that reads backwards) or a BOM. One definition of what may not stay serves extraction, which
stores titles, and the digest, which shows them and puts them in headers.
"""

from __future__ import annotations

import re

# Control characters (C0, DEL, C1), line and paragraph separators, bidirectional overrides and
# isolates, and BOMs: none belongs on one line a reader sees.
INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")


def one_line(text: str) -> str:
    """`text` on one line: invisible characters become spaces, runs of white space fold to one."""
    return " ".join(INVISIBLE.sub(" ", text).split())
