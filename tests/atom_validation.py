"""Checking an Atom document as a feed reader and a validator would: feedparser must read it without a
complaint (`bozo == 0`), and it must be valid against RFC 4287's own RELAX NG schema (tests/schemas/)
plus the two rules the RFC states beside that schema as schematron, which RelaxNG does not check."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import feedparser
from lxml import etree

SCHEMA = Path(__file__).resolve().parent / "schemas" / "atom.rng"
ATOM = {"atom": "http://www.w3.org/2005/Atom"}


@lru_cache(maxsize=1)
def atom_schema() -> etree.RelaxNG:
    """RFC 4287, Appendix B, as lxml's RelaxNG."""
    return etree.RelaxNG(etree.parse(str(SCHEMA)))


def schema_errors(document: bytes) -> list[str]:
    """Why `document` is not valid Atom 1.0: the schema's errors, then each broken schematron rule."""
    root = etree.fromstring(document)
    schema = atom_schema()
    errors = [] if schema.validate(root) else [str(error) for error in schema.error_log]
    if root.xpath("atom:entry[not(atom:author)]", namespaces=ATOM) and not root.xpath("atom:author", namespaces=ATOM):
        errors.append("an atom:feed must have an atom:author unless all of its atom:entry children have one")
    for entry in root.xpath("atom:entry", namespaces=ATOM):
        if not entry.xpath("atom:link[@rel='alternate'] or atom:link[not(@rel)] or atom:content", namespaces=ATOM):
            errors.append(f"entry {entry.findtext('atom:id', namespaces=ATOM)} has no alternate link and no content")
    return errors


def parse_valid_feed(document: bytes) -> Any:
    """`document` parsed by feedparser, after checking that it is valid Atom that feedparser reads cleanly."""
    assert schema_errors(document) == []
    parsed = feedparser.parse(document)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    return parsed
