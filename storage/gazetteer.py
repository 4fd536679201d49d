"""Places and people of a country, for queries that name a country and mean its places too (`@Japan`).

`place_names("Japan")` gives Japan's names, demonyms, capital, prefectures and major cities in English,
Japanese and Chinese (traditional and simplified): Japan, 日本, Japanese, 日本人, Tokyo, 東京, 东京,
Kumamoto, 熊本, 熊本県, 熊本縣 ...; for Japan and Taiwan also every municipality and township (与那国町,
與那國, Yonaguni; 蘇澳鎮, 蘇澳, Su'ao), kind "municipality". A country is named by its English name, an alias (Republic of China,
USA) or its ISO 3166-1 alpha-2 or alpha-3 code, in any case.

The names ship as data (gazetteer_data/countries.tsv, one gazetteer_data/<ISO2>.tsv per country),
built from GeoNames and ISO 3166 by contrib/build_gazetteer.py, which says what is kept and why (names
that are common words or shared by two countries are left out); gazetteer_data/LICENSE has the
attribution. The folder is not named gazetteer/, which mypy would take for this module.

Settings: none. Each file is read once, on first need; nothing here needs more than the standard library.
"""

from __future__ import annotations

import difflib
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable

KINDS = ("country", "demonym", "capital", "admin1", "city", "municipality")
LANGUAGES = ("en", "ja", "zh-Hant", "zh-Hans")


@dataclass(frozen=True, slots=True)
class PlaceName:
    """One name of a country or of a place in it: `kind` is one of KINDS, `language` one of LANGUAGES,
    `country` the country's English name."""

    name: str
    language: str
    kind: str
    country: str


class UnknownCountry(ValueError):
    """A country name, alias or code the gazetteer does not know; the message names close matches."""


@dataclass(frozen=True, slots=True)
class _Country:
    iso2: str
    name: str


def _data() -> Traversable:
    return resources.files(__package__).joinpath("gazetteer_data")


def _lookup_key(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _rows(name: str) -> list[list[str]]:
    lines = _data().joinpath(name).read_text(encoding="utf-8").splitlines()
    return [line.split("\t") for line in lines[1:] if line]


@cache
def _countries() -> tuple[dict[str, _Country], dict[str, str]]:
    """The countries by lookup key, and each key as written (for the close-match message).

    An alias two countries share would be a guess, so it names neither."""
    by_key: dict[str, _Country] = {}
    written: dict[str, str] = {}
    ambiguous: set[str] = set()
    for iso2, iso3, name, aliases in _rows("countries.tsv"):
        country = _Country(iso2, name)
        for alias in (name, iso2, iso3, *filter(None, aliases.split("|"))):
            key = _lookup_key(alias)
            if key in by_key and by_key[key] != country:
                ambiguous.add(key)
            by_key[key] = country
            written.setdefault(key, alias)
    for key in ambiguous:
        del by_key[key]
        del written[key]
    return by_key, written


def known_countries() -> tuple[str, ...]:
    """The English names of every country the gazetteer has, sorted."""
    by_key, _ = _countries()
    return tuple(sorted({country.name for country in by_key.values()}))


def resolve_country(country: str) -> str:
    """The English name of the country that `country` names (name, alias or ISO code, any case)."""
    return _resolve(country).name


def place_names(country: str) -> tuple[PlaceName, ...]:
    """Every name of `country` and its places, countries first, then demonyms, capital, divisions, cities."""
    return _places(_resolve(country))


def _resolve(country: str) -> _Country:
    by_key, written = _countries()
    key = _lookup_key(country)
    if key in by_key:
        return by_key[key]
    # Names and aliases only (a code is no spelling of anything); a word of a name first: korea → South Korea.
    names = [candidate for candidate in by_key if len(candidate) > 3]
    close = [candidate for candidate in names if key in candidate.split()]
    close += difflib.get_close_matches(key, names, n=3, cutoff=0.6)
    suggestions = list(dict.fromkeys(written[match] for match in close))[:5]
    hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else "; name it in English or by its ISO code"
    raise UnknownCountry(f"unknown country {country!r}{hint}")


@cache
def _places(country: _Country) -> tuple[PlaceName, ...]:
    return tuple(PlaceName(name, language, kind, country.name)
                 for name, language, kind, _provenance in _rows(f"{country.iso2}.tsv"))
