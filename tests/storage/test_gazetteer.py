"""The gazetteer: what `@Country` expands to (kuroshio.storage.gazetteer, the shipped data) and the rules
contrib/build_gazetteer.py builds that data by (its filters, imported without the build-time packages)."""

from __future__ import annotations

import ast
import functools
import importlib.util
import sys
import tomllib
from collections import defaultdict
from pathlib import Path
from types import ModuleType

import pytest

from kuroshio.storage.gazetteer import PlaceName, UnknownCountry, known_countries, place_names, resolve_country
from kuroshio.storage.text import normalize

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "storage" / "gazetteer_data"


def names(country: str, *, kind: str | None = None) -> set[str]:
    return {place.name for place in place_names(country) if kind is None or place.kind == kind}


def test_japan_has_its_prefectures_and_cities_in_every_script() -> None:
    japan = names("Japan")
    assert {"Kumamoto", "熊本", "熊本県", "熊本縣", "熊本县", "熊本市"} <= japan
    assert {"Tokyo", "東京", "东京", "東京都"} <= japan
    assert {"Hiroshima", "広島", "廣島", "广岛", "広島県"} <= japan
    assert {"Japan", "日本", "Japanese", "日本人", "日籍"} <= japan


def test_taiwan_has_its_cities_counties_and_names() -> None:
    taiwan = names("Taiwan")
    assert {"Kaohsiung", "高雄", "高雄市", "Taichung", "台中", "臺中市", "New Taipei", "新北", "宜蘭", "宜蘭縣"} <= taiwan
    assert {"Taiwan", "台灣", "臺灣", "台湾", "Taiwanese", "台灣人", "台湾人"} <= taiwan
    assert {"Taipei", "台北", "臺北"} <= names("Taiwan", kind="capital")


def test_each_row_says_its_language_and_kind_and_its_country() -> None:
    assert PlaceName("熊本縣", "zh-Hant", "admin1", "Japan") in place_names("JP")
    assert PlaceName("Japanese", "en", "demonym", "Japan") in place_names("JP")
    assert PlaceName("Kaohsiung", "en", "admin1", "Taiwan") in place_names("TW")
    assert {place.country for place in place_names("tw")} == {"Taiwan"}


def test_other_focus_countries_are_covered() -> None:
    assert {"Seoul", "首爾", "韓國", "South Korean"} <= names("South Korea")
    assert {"Beijing", "北京", "广东", "廣東", "中國"} <= names("China")
    assert {"Manila", "Filipino", "菲律賓"} <= names("Philippines")
    assert {"Washington", "California", "American", "美國"} <= names("United States")


def test_china_does_not_expand_to_taiwan_hong_kong_or_macao() -> None:
    china = {normalize(name) for name in names("China")}
    assert not china & {normalize(name) for name in ("Taiwan", "台湾", "台湾省", "Hong Kong", "香港", "Macao", "澳门")}


def test_stoplisted_words_and_short_names_are_not_terms() -> None:
    for country in known_countries():
        for place in place_names(country):
            assert place.name not in {"中山", "中央", "大同", "Nice", "Reading", "Mobile", "Tsu", "津"}, (country, place)
            letters = [ch for ch in place.name if ch.isalpha()]
            if place.name.isascii() and place.kind not in ("country", "demonym"):
                assert len(letters) >= 4, (country, place)
            else:
                assert len(letters) >= 2, (country, place)


def test_no_name_belongs_to_two_countries() -> None:
    owners: dict[str, set[str]] = defaultdict(set)
    for country in known_countries():
        for place in place_names(country):
            owners[normalize(place.name)].add(country)
    assert {name: countries for name, countries in owners.items() if len(countries) > 1} == {}
    # 台東: Taitung in Taiwan, and the Taitō ward of Tokyo; both keep only their suffixed forms.
    assert "台東" not in names("Taiwan") | names("Japan")
    assert "台東縣" in names("Taiwan") and "台東区" in names("Japan")


@pytest.mark.parametrize("spelling",
                         ["Taiwan", "taiwan", "TW", "tw", "TWN", "Republic of China", " republic  of china "])
def test_a_country_is_named_by_name_alias_or_iso_code(spelling: str) -> None:
    assert resolve_country(spelling) == "Taiwan"
    assert place_names(spelling) == place_names("Taiwan")


def test_an_unknown_country_names_close_matches() -> None:
    with pytest.raises(UnknownCountry, match=r"unknown country 'Japn'; did you mean Japan"):
        place_names("Japn")
    with pytest.raises(UnknownCountry, match=r"'korea'; did you mean .*South Korea"):
        place_names("korea")
    with pytest.raises(ValueError, match=r"'XQ'; name it in English or by its ISO code"):
        resolve_country("XQ")


def test_known_countries_are_english_names_each_with_its_file() -> None:
    countries = known_countries()
    assert {"Japan", "Taiwan", "China", "South Korea", "United States", "Philippines"} <= set(countries)
    assert list(countries) == sorted(countries)
    iso2 = {line.split("\t")[0] for line in (DATA / "countries.tsv").read_text(encoding="utf-8").splitlines()[1:]}
    assert {path.stem for path in DATA.glob("??.tsv")} == iso2


def test_the_loader_reads_only_shipped_files_with_the_standard_library() -> None:
    source = (REPO / "storage" / "gazetteer.py").read_text(encoding="utf-8")
    imported = {alias.name.split(".")[0] for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(ast.parse(source))
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert imported - {"__future__"} <= sys.stdlib_module_names
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    assert "gazetteer_data/*" in setuptools["package-data"]["kuroshio.storage"]
    assert {"LICENSE", "LGPL-2.1.txt", "SOURCES.tsv", "countries.tsv"} <= {path.name for path in DATA.iterdir()}
    assert sum(path.stat().st_size for path in DATA.iterdir()) <= 2 * 1024 * 1024


# --- The build script's rules, on names made up for each case ------------------------------------


@pytest.fixture(scope="module")
def build() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_gazetteer", REPO / "contrib" / "build_gazetteer.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


class TableScripts:
    """The conversions on the few characters these tests use, in place of OpenCC."""

    HANT = str.maketrans({"东": "東", "県": "縣", "县": "縣", "広": "廣", "岛": "島", "线": "線", "台": "臺"})
    HANS = str.maketrans({"東": "东", "縣": "县", "廣": "广", "島": "岛", "線": "线", "臺": "台", "県": "县", "広": "广"})
    JA = str.maketrans({"东": "東", "縣": "県", "县": "県", "廣": "広", "岛": "島", "臺": "台"})

    def to_hant(self, text: str) -> str:
        return text.translate(self.HANT)

    def to_hans(self, text: str) -> str:
        return text.translate(self.HANS)

    def to_ja(self, text: str) -> str:
        return text.translate(self.JA)


WORDS = frozenset({"mobile", "reading", "nice"})


@pytest.mark.parametrize(("name", "reason"), [
    ("津", "under 2 characters"),
    ("Ube", "under 4 letters"),
    ("KHH", "a code"),
    ("Mobile", "an English word"),
    ("くまもとし", "a hiragana reading"),
    ("德拉瓦語", "a language's name"),
    ("高雄巿", "mistyped 市"),
    ("中山", "stoplist"),
    ("Kumamoto-shi 熊本", "neither Latin nor Han and kana"),
])
def test_a_name_that_is_no_good_search_term_is_refused(build: ModuleType, name: str, reason: str) -> None:
    why = build.rejection(name, kind="city", common_words=WORDS, scripts=TableScripts())
    assert why is not None and why.startswith(reason)


def test_stoplist_and_hand_listing_are_read_as_written(build: ModuleType) -> None:
    scripts = TableScripts()
    assert build.rejection("東海", kind="city", common_words=WORDS, scripts=scripts).startswith("stoplist")
    assert build.rejection("东海", kind="city", common_words=WORDS, scripts=scripts).startswith("stoplist")
    for name in ("熊本", "熊本県", "Kumamoto", "さいたま市", "ニューヨーク"):
        assert build.rejection(name, kind="city", common_words=WORDS, scripts=scripts) is None
    assert build.rejection("Mobile", kind="country", common_words=WORDS, scripts=scripts) is None
    assert build.rejection("Mobile", kind="city", common_words=WORDS, scripts=scripts, well_known=True) is None
    assert build.rejection("日", kind="country", common_words=WORDS, scripts=scripts, hand_listed=True) is None


def test_unlabelled_han_names_need_a_second_spelling(build: ModuleType) -> None:
    pool = {"熊本", "熊本市", "東京", "东京", "半线", "彰化市", "彰化", "枋橋"}
    assert build.corroborated(pool, scripts=TableScripts()) == {"熊本", "熊本市", "東京", "东京", "彰化市", "彰化"}


def test_han_names_are_sorted_into_the_scripts_that_spell_them(build: ModuleType) -> None:
    scripts = TableScripts()
    assert build.han_languages("東京", country="JP", scripts=scripts) == ("ja", "zh-Hant")
    assert build.han_languages("东京", country="JP", scripts=scripts) == ("zh-Hans",)
    assert build.han_languages("熊本", country="JP", scripts=scripts) == ("ja", "zh-Hant", "zh-Hans")
    assert build.han_languages("東京", country="US", scripts=scripts) == ("zh-Hant",)  # Japanese writes katakana
    assert build.han_forms("広島", country="JP", scripts=scripts) == {
        "zh-Hant": {"廣島"}, "zh-Hans": {"广岛"}, "ja": {"広島"}}
    assert build.bare_han("熊本県") == "熊本" and build.bare_han("北海道") is None and build.bare_han("津市") is None


def test_a_shared_name_leaves_both_countries_unless_it_is_one_of_theirs(build: ModuleType) -> None:
    row = build.Row
    rows = [
        row("府中", "ja", "city", "JP", "geonames:1"), row("府中", "zh-Hant", "city", "TW", "geonames:2"),
        row("Georgia", "en", "country", "GE", "geonames:3"), row("Georgia", "en", "admin1", "US", "iso3166-2:US-GA"),
        row("York", "en", "city", "GB", "geonames:4"), row("New York", "en", "admin1", "US", "iso3166-2:US-NY"),
        row("California", "en", "admin1", "US", "iso3166-2:US-CA"),
        row("Baja California", "en", "admin1", "MX", "iso3166-2:MX-BCN"),
        row("熊本", "ja", "admin1", "JP", "iso3166-2:JP-43"), row("熊本", "ja", "city", "JP", "geonames:5"),
    ]
    kept, drops = build.resolve_shared(rows, scripts=TableScripts())
    assert {(r.name, r.country) for r in kept} == {
        ("Georgia", "GE"), ("New York", "US"), ("California", "US"), ("Baja California", "MX"), ("熊本", "JP")}
    assert {(d.name, d.country, d.reason) for d in drops} == {
        ("府中", "JP", "shared with TW"), ("府中", "TW", "shared with JP"), ("Georgia", "US", "shared with GE"),
        ("York", "GB", "a word of a name of US")}


def test_a_name_listed_twice_keeps_its_first_kind(build: ModuleType) -> None:
    row = build.Row
    rows = [row("東京", "ja", "admin1", "JP", "iso3166-2:JP-13"), row("東京", "ja", "capital", "JP", "geonames:1850147")]
    assert build.deduplicate(rows) == [rows[1]]


def test_latin_names_lose_parentheses_and_diacritics(build: ModuleType) -> None:
    assert build.split_parenthetical("大韓民国 (韓国)") == ["大韓民国", "韓国"]
    assert build.ascii_fold("Malé") == "Male" and build.ascii_fold("Ōita") == "Oita"


# --- Municipalities: Taiwan's townships and districts, Japan's cities, towns and villages ------------


def test_taiwan_has_its_townships_by_full_name_and_by_bare_name() -> None:
    taiwan = names("Taiwan", kind="municipality")
    assert {"蘇澳鎮", "蘇澳", "苏澳", "Su'ao", "Suao", "Su-ao", "頭城", "羅東鎮", "Luodong"} <= taiwan
    assert {"恆春鎮", "鹿港"} <= taiwan
    assert "恆春" not in taiwan  # 恒春 is a Japanese given name; the full name stays


def test_japan_has_its_municipalities_in_japanese_chinese_and_english() -> None:
    japan = names("Japan", kind="municipality")
    assert {"与那国町", "与那国", "與那國", "與那國町", "Yonaguni"} <= japan
    assert {"石垣市", "Ishigaki", "宮古島市", "宮古島", "Miyakojima", "竹富町", "別府", "Beppu"} <= japan


def test_a_bare_name_that_is_a_japanese_word_or_name_is_no_term() -> None:
    taiwan, japan = names("Taiwan"), names("Japan")
    assert "田中鎮" in taiwan and "田中" not in taiwan | japan  # a Japanese surname, and Changhua's Tianzhong
    assert "成功鎮" in taiwan and "成功" not in taiwan  # 'success'
    assert "石垣市" in japan and "石垣" not in japan  # 'a stone wall'; Ishigaki stays (no English word)


def test_a_bare_name_another_country_has_gives_way_or_leaves_both() -> None:
    taiwan, japan = names("Taiwan"), names("Japan")
    # Okayama keeps 岡山 as its prefecture; Kaohsiung's Gangshan district keeps only its full name.
    assert "岡山" in names("Japan", kind="admin1") and "岡山" not in taiwan and "岡山區" in taiwan
    assert "潮州" not in taiwan and "潮州鎮" in taiwan  # Chaozhou, Guangdong
    assert {"關西", "琉球", "三峽"} & taiwan == set()  # the stoplist: Kansai, Ryukyu, the Three Gorges
    assert "河北" in names("China") and "河北" not in japan  # Hebei, not Kahoku town


def test_a_one_character_name_with_its_level_is_no_term() -> None:
    assert {"東區", "北區", "中區"} & names("Taiwan") == set()
    assert "東村" not in names("Japan")


def test_a_bare_municipal_name_is_judged_by_what_the_dictionaries_say(build: ModuleType) -> None:
    lexicon = build.Lexicon(
        japanese={"田中": (("名詞", "固有名詞", "人名", "姓"),), "蘇澳": (("名詞", "固有名詞", "地名", "一般"),),
                  "石垣": (("名詞", "固有名詞", "人名", "姓"), ("名詞", "普通名詞", "一般", "*")),
                  "与那国": (("名詞", "固有名詞", "人名", "姓"), ("名詞", "固有名詞", "地名", "一般"))},
        chinese={"成功": (10000, "a"), "头城": (3, "n"), "礁溪": (2, "ns")})
    judge = functools.partial(build.word_rejection, lexicon=lexicon, scripts=TableScripts())
    assert judge("蘇澳", country="TW") is None and judge("头城", country="TW") is None
    assert judge("礁溪", country="TW") is None
    assert judge("田中", country="TW").startswith("a Japanese word")
    assert judge("成功", country="TW").startswith("a Chinese word")
    assert judge("与那国", country="JP") is None  # a Japanese surname still names Japan
    assert judge("石垣", country="JP").startswith("a Japanese word")
    assert judge("東", country="TW").startswith("under 2 characters")


def test_readings_are_romanised_as_the_press_writes_them(build: ModuleType) -> None:
    readings = {"よなぐに": "Yonaguni", "いしがき": "Ishigaki", "おおいた": "Oita", "きょうと": "Kyoto",
                "べっぷ": "Beppu", "みやこじま": "Miyakojima", "しんじゅく": "Shinjuku", "ちゃたん": "Chatan"}
    assert {reading: build.romanise(reading) for reading in readings} == readings
    assert build.latin_spellings("Su'ao") == ["Su'ao", "Suao", "Su-ao"]
    assert build.municipal_bare("蘇澳鎮", "TW") == "蘇澳" and build.municipal_bare("与那国町", "JP") == "与那国"
