"""Topic query parsing and matching: the default Taiwan–Japan topic, scoring, normalisation, syntax."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from kuroshio.crawler.topics import (
    DEFAULT_MIN_SCORE,
    DEFAULT_TOPIC_NAME,
    TITLE_WEIGHT,
    Refusal,
    Topic,
    default_topics,
    judge_topics,
    match_topic,
    match_topics,
)
from kuroshio.storage.query import VIA, And, Not, Or, Term, parse_query
from kuroshio.storage.text import normalize

REPO_ROOT = Path(__file__).resolve().parents[2]
SEEDS = sorted((REPO_ROOT / "fixtures" / "seeds").glob("*.txt"))


def default_topic() -> Topic:
    """The default topic's rules alone, without its learned second stage: what the tests of the rules
    pin down (tests/crawler/test_scorer.py pins the second stage)."""
    (topic,) = default_topics()
    return Topic(topic.name, topic.query_text, topic.min_score)


def spelled_as(terms: tuple[str, ...], *spellings: str) -> set[str]:
    """Matched terms, each place written as one of `spellings` when it folds to it (the gazetteer may
    list 臺灣 where the test writes 台灣: one form)."""
    by_form = {normalize(spelling): spelling for spelling in spellings}
    return {
        by_form.get(normalize(place), place) + via + country
        for place, via, country in (term.partition(VIA) for term in terms)
    }


def topic(query: str, min_score: float = DEFAULT_MIN_SCORE) -> Topic:
    return Topic.from_config("test", query, min_score)


# The default topic


def test_three_seeds_are_found():
    assert len(SEEDS) == 3


@pytest.mark.parametrize("seed", SEEDS, ids=lambda path: path.stem)
@pytest.mark.parametrize("learned", [False, True], ids=["rules", "with-scorer"])
def test_every_seed_article_matches_the_default_topic_on_taiwan_and_japan(seed: Path, learned: bool):
    topic = default_topics()[0] if learned else default_topic()
    match = match_topic(topic, title="", text=seed.read_text(encoding="utf-8"))

    assert match is not None
    assert match.topic == DEFAULT_TOPIC_NAME == "taiwan-japan"
    assert match.score >= DEFAULT_MIN_SCORE
    assert {"Taiwan", "Japan"} <= set(match.terms)


TAIWAN_STORY_PASSING_JAPAN = (
    "Taiwan's legislature passed the budget on Friday after weeks of debate. "
    "Taiwan's premier said the spending would fund new rail lines across Taiwan, "
    "similar to projects Japan completed decades ago. Lawmakers in Taiwan will review it again in May."
)


def test_taiwan_story_mentioning_japan_once_in_passing_does_not_match():
    assert match_topic(default_topic(), title="Taiwan passes budget", text=TAIWAN_STORY_PASSING_JAPAN) is None


def test_taiwan_story_with_a_second_japan_mention_matches():
    # Proves the passing-mention case above fails on its score, not on a broken Japan term.
    text = TAIWAN_STORY_PASSING_JAPAN + " Japan's transport ministry offered advice."

    match = match_topic(default_topic(), title="Taiwan passes budget", text=text)

    assert match is not None
    assert match.score == 2.0


def test_japan_only_story_does_not_match():
    text = (
        "Japan's central bank held rates steady on Tuesday. The Bank of Japan said inflation in Tokyo "
        "had slowed, and Japanese exporters welcomed the weaker yen."
    )

    assert match_topic(default_topic(), title="Bank of Japan holds rates", text=text) is None


def test_traditional_chinese_story_on_taiwan_japan_relations_matches():
    text = "外交部表示，台日關係持續深化。台灣與日本在半導體領域合作密切，日本企業持續擴大在台投資。"

    match = match_topic(default_topic(), title="", text=text)

    assert match is not None
    assert {"台灣 → Taiwan", "台日", "日本 → Japan"} <= spelled_as(match.terms, "台灣", "日本")


def test_japanese_story_on_japan_taiwan_relations_matches():
    text = "日台関係の強化について、日本政府は台湾との経済対話を続ける方針を示した。"

    match = match_topic(default_topic(), title="日本と台湾の関係", text=text)

    assert match is not None
    assert {"日台", "日本 → Japan", "台灣 → Taiwan"} <= spelled_as(match.terms, "台灣", "日本")


CHINESE_TAIWAN_STORY_PASSING_JAPAN = (
    "台灣立法院週五三讀通過中央政府總預算案，朝野協商歷時三週。行政院長表示，預算將優先用於社會住宅、長照與"
    "偏鄉交通建設，台灣將興建新的鐵路，參考日本的經驗。在野黨團則批評部分特別預算編列浮濫，揚言提出覆議。"
)


def test_chinese_taiwan_story_mentioning_japan_once_does_not_match():
    text = CHINESE_TAIWAN_STORY_PASSING_JAPAN

    assert match_topic(default_topic(), title="立法院通過總預算", text=text) is None


def test_a_brief_needs_only_one_mention_of_each_side():
    brief = "Okinawa's Yaeyama fishermen signed a mutual rescue pact with their counterparts in Yilan on Monday."

    match = match_topic(default_topic(), title="Fishermen sign rescue pact", text=brief)

    assert match is not None
    assert set(match.terms) == {"Okinawa → Japan", "Yilan → Taiwan"}


@pytest.mark.parametrize(("title", "brief", "terms"), [
    ("蘇澳漁民赴沖繩交流", "蘇澳的漁民代表團本週前往沖繩，與當地漁協討論共同救難。", {"沖繩 → Japan", "蘇澳 → Taiwan"}),
    ("與那國町長訪花蓮", "與那國町長昨日抵達花蓮，洽談兩地定期航班。", {"與那國町 → Japan", "與那國 → Japan", "花蓮 → Taiwan"}),
    ("Ferry talks", "Ishigaki's mayor met officials from Su'ao on Monday about a summer ferry.",
     {"Ishigaki → Japan", "Su'ao → Taiwan"}),
])
def test_a_brief_naming_a_township_and_a_municipality_matches(title: str, brief: str, terms: set[str]) -> None:
    match = match_topic(default_topic(), title=title, text=brief)

    assert match is not None
    assert set(match.terms) == terms


def test_a_japanese_surname_that_names_a_taiwanese_township_names_no_taiwan():
    # 田中 is Tianzhong township in Changhua and the commonest of Japanese surnames.
    brief = "田中外相は東京で記者会見し、来月の訪米について説明した。"

    assert match_topic(default_topic(), title="田中外相が会見", text=brief) is None


def test_a_story_needs_more_than_one_mention_of_each_side():
    story = " ".join(["The county council debated the harbour budget for most of the afternoon session."] * 4)
    story += " Okinawa's Yaeyama fishermen signed a mutual rescue pact with their counterparts in Yilan on Monday."

    assert match_topic(default_topic(), title="Council debates harbour budget", text=story) is None


def test_a_brief_naming_taiwan_only_through_its_food_agency_matches():
    brief = "食藥署今天宣布，即日起取消日本福島等5縣食品的輸入證明文件要求，日本官員表示歡迎。"

    match = match_topic(default_topic(), title="福島等5縣食品解禁", text=brief)

    assert match is not None
    assert "食藥署" in match.terms


def test_an_agency_and_its_head_written_as_one_word_both_name_taiwan():
    # jieba reads 衛福部長 as 衛福 + 部長, so 衛福部 alone would not be found in it.
    brief = "衛福部長今天接見日本厚生勞動省代表團，雙方就長照合作交換意見。"

    match = match_topic(default_topic(), title="", text=brief)

    assert match is not None
    assert "衛福部長" in match.terms


@pytest.mark.parametrize(("brief", "party"), [
    ("立憲民主党の訪問団が台北で頼清徳総統と会談し、エネルギー安全保障を協議した。", "立憲民主党"),
    ("中国の国務院台湾事務弁公室は国民民主党議員団の訪台を批判し、頼清徳政権を非難した。", "国民民主党"),
    ("A Democratic Party for the People delegation met President Lai Ching-te in Taipei.",
     '"Democratic Party for the People"'),
])
def test_a_brief_naming_japan_only_through_one_of_its_parties_matches(brief: str, party: str):
    # Written in Japanese, a brief on a party's delegation to Taipei need not name Japan at all.
    match = match_topic(default_topic(), title="", text=brief)

    assert match is not None and party in match.terms


def test_the_dpfp_is_not_the_kmt_and_the_taiwan_peoples_party_names_taiwan():
    match = match_topic(default_topic(), title="", text="台灣民眾黨主席率團訪問東京，與國民民主黨代表會談。")

    assert match is not None and {"台灣民眾黨", "国民民主党"} <= set(match.terms) and "國民黨" not in match.terms


def test_taiwans_envoy_stationed_in_japan_names_japan_without_the_word():
    brief = "台北駐日經濟文化代表處代表李逸洋昨天拜會北海道知事，盼增加直航班次。"

    match = match_topic(default_topic(), title="", text=brief)

    assert match is not None
    assert "駐日" in match.terms


def test_moving_into_taipei_is_not_stationed_in_taiwan():
    # 進駐台北 ("move into Taipei") spells 駐台 across two words.
    brief = "日本企業進駐台北內湖科技園區，日本員工約200人。"

    match = match_topic(default_topic(), title="", text=brief)

    assert match is not None
    assert "駐台" not in match.terms


def test_a_restaurant_feature_naming_both_countries_does_not_match():
    story = (
        "A ramen shop in Taipei opened by a Taiwanese chef who trained for eight years in Fukuoka was "
        "awarded a Bib Gourmand in the Michelin Guide Taiwan. \"I learned the method in Japan, but the pork "
        "and the flour are from Taiwan,\" the chef said. The guide listed new restaurants in Taipei and "
        "Kaohsiung, four of them serving Japanese cuisine."
    )

    assert match_topic(default_topic(), title="Taipei ramen shop earns Bib Gourmand", text=story) is None


def test_a_restaurant_story_about_trade_between_the_two_matches():
    # Proves the feature above fails on the food gate, not on its sides: trade lifts the gate.
    story = (
        "Taiwanese pineapple exports to Japan hit a record this year, as restaurants and chefs in Tokyo "
        "and Osaka put Taiwan's fruit on their menus. Growers in Pingtung and Tainan said Japanese buyers "
        "had signed contracts for next season, and Taiwan's agriculture ministry plans a fair in Japan."
    )

    match = match_topic(default_topic(), title="Taiwan pineapples win Japanese menus", text=story)

    assert match is not None


def test_a_japanese_shop_feature_naming_taiwan_for_its_sweets_does_not_match():
    story = (
        "東京・下北沢に台湾カステラの専門店が開店し、週末には行列ができている。店主は台湾の淡水で食べた味が"
        "忘れられず、現地の店で修業したという。「日本の卵は味が濃いので、甘さを控えた」と話す。"
    )

    assert match_topic(default_topic(), title="下北沢に台湾カステラ専門店", text=story) is None


def test_a_chinese_report_naming_japan_as_the_japanese_side_matches():
    # Beijing's spokesmen speak of 日方 ("the Japanese side") and name 日本 once, if at all.
    story = (
        "外交部发言人今天就日本议员访台答问时表示，中方对此坚决反对，已向日方提出严正交涉。"
        "发言人说，台湾问题是中国内政，日方应恪守一个中国原则，停止向台独势力发出错误信号。"
        "他敦促日方在台湾问题上谨言慎行，以实际行动维护两国关系政治基础。"
    )

    match = match_topic(default_topic(), title="外交部回应日本议员访台", text=story)

    assert match is not None
    assert "日方" in match.terms


def test_a_chinese_report_naming_taiwan_as_the_taiwanese_side_matches():
    brief = "日本水产厅与台方渔业团体举行会谈，就重叠水域的作业规则达成共识。"

    match = match_topic(default_topic(), title="", text=brief)

    assert match is not None
    assert "台方" in match.terms


@pytest.mark.parametrize(("title", "brief", "term"), [
    ("尖閣で漁船に警告", "第11管区海上保安本部は、尖閣諸島周辺で宜蘭県の漁船に領海から出るよう警告した。",
     "海上保安本部"),
    ("", "海上保安庁の巡視船が与那国島沖で花蓮の漁船を救助した。", "海上保安庁"),
    ("", "防衛相は、自衛隊の護衛艦が台湾海峡を通過したと明らかにした。", "自衛隊"),
    ("", "A Self-Defense Force destroyer sailed through the Taiwan Strait on Saturday.", '"Self-Defense Force"'),
])
def test_a_brief_naming_japan_only_through_its_forces_or_coast_guard_matches(title: str, brief: str, term: str):
    match = match_topic(default_topic(), title=title, text=brief)

    assert match is not None
    assert term in match.terms


@pytest.mark.parametrize(("title", "story"), [
    ("Taiwan's Chen wins in Chiba for first JLPGA title",
     "Chen of Taiwan closed with a 67 to win in Chiba by two strokes, her first title on the Japan LPGA Tour. "
     "She is the third Taiwanese golfer to win in Japan this season."),
    ("台灣網球好手東京封后", "台灣女將在日本東京公開賽女單決賽直落二擊敗日本選手，生涯首座網球巡迴賽冠軍，"
     "她賽後表示，日本球迷的加油讓她印象深刻，明年將再回到東京衛冕。"),
    ("台湾の林選手がバドミントン日本オープン制覇", "バドミントンのジャパンオープンは東京で決勝があり、"
     "台湾の林選手が日本の選手を破って初優勝した。台湾勢の優勝は3年ぶり。日本勢は準優勝にとどまった。"),
])
def test_a_game_report_in_any_sport_naming_both_countries_does_not_match(title: str, story: str):
    assert match_topic(default_topic(), title=title, text=story) is None


@pytest.mark.parametrize(("title", "story"), [
    ("Taipei's coffee drinkers embrace the kissaten",
     "A dozen Taipei cafes are styled on the Japanese kissaten, the dim coffee houses of Showa-era Tokyo. "
     "Owners in Taipei and Taichung say Taiwanese customers come for siphon coffee and Japanese city-pop."),
    ("From Taiwan cherry to Japanese maple: trees for a small garden",
     "The Taiwan cherry flowers deep pink in late winter. A Japanese maple colours brilliantly in autumn. "
     "Both suit a small garden; plant them between November and March, and shelter the Taiwan cherry from frost "
     "as you would a young Japanese maple."),
    ("台北の若者に日本アニメ風ファッション", "台北の若者の間で、日本のアニメに登場する制服風のファッションが"
     "流行している。台湾の古着店では日本から仕入れた服が人気で、台北の大学生は「日本の雑誌を見て服を選ぶ」と話す。"),
])
def test_a_lifestyle_feature_naming_both_countries_does_not_match(title: str, story: str):
    assert match_topic(default_topic(), title=title, text=story) is None


def test_a_cafe_story_about_exchange_between_the_two_matches():
    # Proves the kissaten feature fails on the lifestyle gate, not on its sides: exchange lifts the gate.
    story = (
        "Coffee growers from Taiwan's Alishan and Okinawa signed a friendship pact in Taipei on Monday, and "
        "cafes in Tokyo and Taipei will serve both islands' beans. Japan's trade office called it a model of "
        "exchange between Taiwanese and Japanese farmers."
    )

    assert match_topic(default_topic(), title="Taiwan and Okinawa coffee growers", text=story) is not None


@pytest.mark.parametrize(("title", "story"), [
    ("Taiwan-born novelist wins Japan's Naoki Prize",
     "A novelist born in Taiwan who moved to Japan at 20 won the Naoki Prize in Tokyo for a crime novel set in "
     "Osaka. The literary prize committee praised her Japanese prose; she is the third Taiwan-born winner."),
    ("台灣樂團登上東京巨蛋", "台灣樂團本週末在日本東京巨蛋舉行兩場演唱會，門票開賣即售罄。主唱以日語向歌迷致謝，"
     "不少日本歌迷跟唱，樂團明年將在台灣與日本展開巡演。"),
    ("台湾ドラマ、日本で配信首位", "台湾のドラマが日本の配信サービスで首位となった。主演の台湾の俳優は"
     "日本のアイドルとも共演しており、日本の映画にも出演する。台湾のゲーム会社が関連ゲームを出す予定だ。"),
])
def test_a_culture_or_entertainment_feature_naming_both_countries_does_not_match(title: str, story: str):
    assert match_topic(default_topic(), title=title, text=story) is None


def test_a_concert_for_exchange_between_the_two_matches():
    # Proves the concert feature fails on the culture gate, not on its sides: exchange lifts the gate.
    story = (
        "A Taipei band and a Sendai orchestra gave a friendship concert in Taipei on Saturday to mark 15 years "
        "since Taiwan's aid after the 2011 earthquake. Japan's envoy said the concert was a symbol of exchange "
        "between the Taiwanese and Japanese people."
    )

    assert match_topic(default_topic(), title="Taiwan and Japan friendship concert", text=story) is not None


def test_words_with_an_everyday_sense_do_not_gate_a_policy_story():
    story = (
        "Taiwan and Japan agreed on a novel scheme to share thin film solar cell standards. Japan's trade "
        "ministry said Taiwan would test the scheme this year, and Taiwan's economy ministry welcomed Japan's offer."
    )

    assert match_topic(default_topic(), title="Taiwan, Japan agree solar standards", text=story) is not None


def test_an_observatory_story_spelling_taiwan_japan_across_two_words_does_not_match():
    # 天文台|日环食 ("observatory" | "annular eclipse"): search mode's 文台 and 环食 put boundaries around 台日.
    story = "紫金山天文台日环食观测队8日出发，前往西藏。天文台日环食科普直播同步进行，天文台日环食观测时隔多年。"

    assert match_topic(default_topic(), title="天文台日环食观测队出发", text=story) is None


def test_japanese_phrase_nihon_to_taiwan_no_kankei_matches():
    text = "日本と台湾の関係は深い。日本の観光客は台湾を訪れ、台湾の企業は日本に進出している。"

    assert match_topic(default_topic(), title="", text=text) is not None


def test_simplified_chinese_story_matches_through_the_variant_fold():
    text = "日台关系持续升温。台湾代表团访问东京，与日本官员会谈。"

    match = match_topic(default_topic(), title="", text=text)

    assert match is not None
    assert "東京 → Japan" in spelled_as(match.terms, "東京")


# Scoring


def test_a_title_mention_weighs_title_weight_body_mentions():
    match = match_topic(topic("Japan", min_score=0), title="Japan today", text="Japan and Japan")

    assert match is not None
    assert match.score == TITLE_WEIGHT + 2


def test_and_scores_its_weakest_side_and_or_sums_its_children():
    text = "Taiwan Taiwan Taiwan Japan Tokyo"

    match = match_topic(topic("Taiwan AND (Japan OR Tokyo)", min_score=0), title="", text=text)

    assert match is not None
    assert match.score == 2.0


def test_terms_are_sorted_by_score_then_name_and_include_only_those_that_occurred():
    text = "Tokyo Japan Taiwan Taiwan"

    match = match_topic(topic("(Taiwan OR Taipei) AND (Tokyo OR Japan)", min_score=0), title="", text=text)

    assert match is not None
    assert match.terms == ("Taiwan", "Japan", "Tokyo")


def test_variant_spellings_of_one_term_are_reported_once_as_first_written():
    match = match_topic(topic("台灣 OR 臺灣 OR 台湾", min_score=0), title="", text="台湾と臺灣")

    assert match is not None
    assert match.terms == ("台灣",)
    assert match.score == 6.0  # each spelling finds both occurrences; OR sums them


def test_match_topics_returns_every_matching_topic_in_order():
    topics = [topic("Korea"), Topic.from_config("japan", "Japan"), Topic.from_config("taiwan", "Taiwan")]

    matches = match_topics(topics, title="Taiwan and Japan", text="")

    assert [match.topic for match in matches] == ["japan", "taiwan"]


# Normalisation and word boundaries


def test_full_width_text_matches_a_half_width_query():
    assert match_topic(topic("Taiwan"), title="ＴＡＩＷＡＮ", text="") is not None


def test_full_width_query_matches_half_width_text():
    assert match_topic(topic("ＪＡＰＡＮ"), title="Japan", text="") is not None


def test_half_width_katakana_matches_full_width():
    assert match_topic(topic("タイワン"), title="ﾀｲﾜﾝ", text="") is not None


def test_matching_ignores_case():
    assert match_topic(topic("taiwan"), title="TAIWAN", text="") is not None
    assert match_topic(topic("TAIWAN"), title="taiwan", text="") is not None


def test_latin_term_matches_whole_words_only():
    japan = topic("Japan", min_score=1)

    assert match_topic(japan, title="", text="Japanese firms") is None
    assert match_topic(japan, title="", text="Japan's firms") is not None


def test_trailing_star_matches_a_prefix():
    assert match_topic(topic("Japan*", min_score=1), title="", text="Japanese firms") is not None


def test_taiwan_matches_possessive_and_hyphenated_but_not_taiwanese():
    taiwan = topic("Taiwan", min_score=1)

    assert match_topic(taiwan, title="", text="Taiwan’s exports") is not None
    assert match_topic(taiwan, title="", text="a Taiwan-Japan forum") is not None
    assert match_topic(taiwan, title="", text="Taiwanese exports") is None


def test_latin_term_is_found_between_cjk_characters():
    assert match_topic(topic("TSMC", min_score=1), title="", text="在TSMC的工廠") is not None


def test_curly_apostrophe_in_text_matches_straight_apostrophe_in_query():
    assert match_topic(topic("Taiwan's", min_score=1), title="", text="Taiwan’s exports") is not None


def test_cjk_term_matches_inside_a_longer_word():
    assert match_topic(topic("日台", min_score=1), title="", text="日台関係の強化") is not None


@pytest.mark.parametrize("spelling", ["台灣", "臺灣", "台湾"])
def test_taiwan_spellings_are_one_form(spelling: str):
    assert normalize(spelling) == "台湾"
    assert match_topic(topic("臺灣", min_score=1), title="", text=f"{spelling}的經濟") is not None


@pytest.mark.parametrize("spelling", ["日台關係", "日台关系", "日台関係"])
def test_relations_spellings_match_each_other(spelling: str):
    for query in ("日台關係", "日台关系", "日台関係"):
        assert match_topic(topic(query, min_score=1), title="", text=f"{spelling}が深まる") is not None


# Phrases, NOT, precedence


def test_phrase_matches_its_words_in_order_across_any_whitespace():
    strait = topic('"Taiwan Strait"', min_score=1)

    assert match_topic(strait, title="", text="ships in the Taiwan\nStrait") is not None
    assert match_topic(strait, title="", text="the Strait of Taiwan") is None
    assert match_topic(strait, title="", text="Taiwan Straits") is None


def test_not_excludes_an_article_containing_the_term():
    no_baseball = topic("Taiwan AND Japan NOT baseball")

    assert match_topic(no_baseball, title="Taiwan beats Japan", text="") is not None
    assert match_topic(no_baseball, title="Taiwan beats Japan", text="a baseball final") is None


def test_not_adds_no_score_and_its_terms_are_not_reported():
    match = match_topic(topic("Taiwan NOT (Korea AND baseball)", min_score=0), title="", text="Taiwan Korea")

    assert match is not None
    assert match.score == 1.0
    assert match.terms == ("Taiwan",)


def test_parentheses_override_precedence():
    assert parse_query("(a OR b) AND c") == And((Or((Term("a"), Term("b"))), Term("c")))

    text = "Taiwan Taiwan"
    assert match_topic(topic("Taiwan OR Korea AND Japan"), title="", text=text) is not None
    assert match_topic(topic("(Taiwan OR Korea) AND Japan"), title="", text=text) is None


def test_default_query_parses_to_two_required_sides_and_four_gates():
    query = default_topic().query

    assert isinstance(query, And)
    taiwan, japan, *gates = query.children
    assert isinstance(taiwan, Or) and isinstance(japan, Or)
    assert len(gates) == 4 and all(isinstance(gate, Not) for gate in gates)


def test_a_topic_is_its_query_text_parsed_on_first_use_and_sent_to_workers_as_text():
    built = Topic("built", "Taiwan AND (Japan OR 日本) AND NOT typhoon")
    sent = pickle.loads(pickle.dumps(built))

    assert sent == built and len(pickle.dumps(built)) < 200  # no parsed query in it
    assert sent.query is built.query  # parsed once in a process, whichever topic asks
    assert match_topic(sent, title="Taiwan and Japan", text="日本") is not None


def test_query_syntax_error_is_a_value_error():
    with pytest.raises(ValueError):
        Topic.from_config("broken", "Taiwan AND")


def test_each_sources_crawler_shares_the_topics_instead_of_copying_them():
    # Scrapy deep-copies the settings a Crawler is given; a crawl of many sources builds one Crawler each.
    from scrapy.crawler import Crawler
    from scrapy.settings import Settings

    from kuroshio.crawler.spiders.source import SourceSpider

    topics = default_topics()
    crawler = Crawler(SourceSpider, Settings({"KUROSHIO_TOPICS": list(topics)}))
    assert crawler.settings["KUROSHIO_TOPICS"][0] is topics[0]


_SUBSIDY_TITLE = "Chipmaker wins record subsidy for Hokkaido fab"
_SUBSIDY_LEDE = ("Tokyo, Dec. 2 -- The industry ministry approved a record subsidy on Tuesday for a chip plant in"
                 " Chitose, Hokkaido, where construction is ahead of schedule and hiring has begun for 1,500 jobs.")
_SUBSIDY_CLOSE = "Lawmakers in Tokyo welcomed the decision, and Hokkaido's governor thanked the ministry."


def test_a_story_naming_one_side_in_passing_after_its_lede_does_not_match():
    text = "\n\n".join((
        _SUBSIDY_LEDE,
        "Officials said Japan hopes the plant will one day rival the fabs TSMC runs in Taiwan.",
        _SUBSIDY_CLOSE,
    ))

    assert match_topic(default_topic(), title=_SUBSIDY_TITLE, text=text) is None


def test_a_story_naming_both_sides_in_two_sentences_matches_though_its_head_names_one():
    text = "\n\n".join((
        _SUBSIDY_LEDE,
        "Officials said Japan hopes the plant will work with the fabs TSMC runs in Taiwan."
        " Suppliers from Taiwan told Japan's industry ministry they would open offices nearby.",
        _SUBSIDY_CLOSE,
    ))

    assert match_topic(default_topic(), title=_SUBSIDY_TITLE, text=text) is not None


def test_a_story_whose_title_names_one_side_and_lede_the_other_matches():
    lede = _SUBSIDY_LEDE.replace("Chitose, Hokkaido", "Chitose, Hokkaido, with suppliers from Taiwan and TSMC")

    match = match_topic(default_topic(), title=_SUBSIDY_TITLE, text="\n\n".join((lede, _SUBSIDY_CLOSE)))

    assert match is not None


def test_chinese_and_japanese_sentences_end_at_their_full_stops_without_a_space():
    # Each paragraph names both sides, but in two sentences: had 。 not ended the first, each paragraph
    # would be one sentence naming both, twice, and the story would match.
    text = "\n\n".join((
        "経済産業省は2日、北海道千歳市で建設中の半導体工場に対し、追加の補助金を交付すると発表した。"
        "工場は予定より早く完成する見通しで、地元では千五百人の採用がすでに始まっている。",
        "台湾の企業も関心を示している。日本政府は来年度も支援を続ける方針だ。",
        "台湾の部品メーカーが進出を検討しているという。日本の業界団体はこれを歓迎した。",
    ))

    assert match_topic(default_topic(), title="北海道の半導体工場に追加補助金", text=text) is None
    assert match_topic(default_topic(), title="北海道の半導体工場に追加補助金", text=text.replace("。日本", "、日本")) is not None


# A roundup: both countries among many, meeting only beside the others.
_HOTEL_TITLE = "Asian hotel rates rise for a third year, Tokyo and Taipei among top gainers"
_HOTEL_RATES = "\n\n".join((
    "SINGAPORE -- Average hotel rates in Asia rose 6% this year, led by Tokyo, Osaka and Seoul, a data firm said.",
    "Rates in Tokyo climbed 14% while Taipei rose 7%, Singapore 4% and Bangkok 2%; Hong Kong fell slightly.",
    "The firm expects growth to slow as new hotels open in Japan, Vietnam and Taiwan next year.",
))


def test_a_roundup_naming_both_countries_among_many_does_not_match():
    assert match_topic(default_topic(), title=_HOTEL_TITLE, text=_HOTEL_RATES) is None


def test_a_roundup_that_also_names_the_two_on_their_own_matches():
    # Proves the roundup is refused for where its sides meet: one sentence naming the two alone is enough.
    text = _HOTEL_RATES + "\n\nJapan's tourism agency said Taiwan sent the most hotel guests of any market."

    assert match_topic(default_topic(), title=_HOTEL_TITLE, text=text) is not None


def test_a_story_about_the_two_naming_two_other_countries_beside_them_matches():
    # China's protest and the United States' view are named beside the two in every sentence: two other
    # countries are not a roundup.
    text = "\n\n".join((
        "TOKYO -- Japan and Taiwan held coast guard talks on Monday, drawing a protest from China.",
        "China said Japan and Taiwan were colluding; the United States said Japan and Taiwan were free to talk.",
    ))

    assert match_topic(default_topic(), title="Coast guard talks", text=text) is not None


def test_a_query_naming_no_country_by_place_takes_no_story_for_a_roundup():
    text = ("TSMC said its Arizona plant would buy chemicals from Korea, Germany and Singapore. TSMC told Arizona "
            "officials its Arizona plant would hire locally, Korea and Germany's suppliers too.")

    assert match_topic(topic("TSMC AND Arizona"), title="TSMC expands", text=text) is not None


def test_the_strait_shorthand_names_taiwan_in_chinese_as_taiwan_strait_does_in_english():
    brief = "日本內閣官房長官今天對中共環台軍演表達嚴重關切，強調台海和平穩定的重要性。"

    match = match_topic(default_topic(), title="日本關切共軍演習", text=brief)

    assert match is not None and "台海" in match.terms


@pytest.mark.parametrize(("title", "text"), [
    ("九州電力、台電と地熱で協力", "九州電力は1日、台電と宜蘭県清水地区の地熱資源を共同で調査する協定を結んだ。"
     "大分県の発電所で培ったノウハウを提供する。台電の董事長は「長年の運転経験を持つパートナーが必要だ」と話した。"
     "九州電力は来年から技術者10人を宜蘭に派遣する。"),
    ("Kyushu Electric, Taipower to explore geothermal in Yilan", "Kyushu Electric Power and Taipower signed a "
     "deal on Monday to explore deep geothermal resources in Yilan. Kyushu Electric will share drilling know-how "
     "from its plants in Oita, and send ten engineers to Yilan next year, Taipower said. The two utilities will "
     "drill a test well near the Qingshui geothermal plant next spring, and Kyushu Electric will train Taipower's "
     "staff at its Hatchobaru station for two years."),
])
def test_japans_regions_and_taiwans_power_company_name_their_countries(title: str, text: str):
    assert match_topic(default_topic(), title=title, text=text) is not None


def test_a_game_report_naming_a_team_by_its_sport_abbreviation_does_not_match():
    story = ("男籃亞洲區資格賽今天在沖繩開打，中華隊下半場遭日本隊逆轉，終場以74比78落敗。"
             "中華隊目前1勝3敗，明年2月將在臺北迎戰澳洲，日本隊則暫居分組第一。")

    assert match_topic(default_topic(), title="中華男籃惜敗日本", text=story) is None


@pytest.mark.parametrize(("title", "story"), [
    ("Japanese burger chain opens 300th store in Taiwan",
     "Japanese burger chain Mos Burger opened its 300th store in Taiwan on Saturday in Taoyuan. Taiwan is its "
     "largest overseas market, and its rice burgers sell better there than in Japan."),
    ("日本居酒屋明年進駐高雄", "大阪連鎖居酒屋的臺灣加盟商表示，明年2月將在高雄開設首家門市，並計劃在臺灣南部"
     "開設5家分店。日本總公司將派員來臺培訓。"),
])
def test_a_chains_store_opening_naming_both_countries_does_not_match(title: str, story: str):
    assert match_topic(default_topic(), title=title, text=story) is None


def test_joining_a_trade_pact_is_not_a_franchise():
    # 加盟 is also "to join" (TPP): only the franchise's own words (加盟店, 加盟商) gate a story.
    brief = "自民党青年局の議員12人は1日、台北で行政院長と会談した。院長は台湾のTPP加盟申請への日本の支持に謝意を示した。"

    assert match_topic(default_topic(), title="自民青年局、台湾の行政院長と会談", text=brief) is not None


# Why a topic refused an article, for a reader who asks.

def refusal_of(title: str, text: str) -> str:
    (judged,) = judge_topics([default_topic()], title=title, text=text)
    assert isinstance(judged, Refusal), judged
    return judged.reason


def test_a_match_is_judged_as_match_topic_matches_it():
    text = "Taiwan and Japan signed a fisheries pact on Monday. Taiwan said Japan agreed to a hotline."

    assert judge_topics([default_topic()], title="Pact", text=text) == [
        match_topic(default_topic(), title="Pact", text=text)]


def test_a_refusal_names_the_side_nothing_names():
    assert refusal_of("Taipei metro fares", "Taipei raised metro fares in Taiwan's capital.").startswith(
        "nothing names (@Japan OR 台日 OR 日台")


def test_a_refusal_names_the_gate_and_what_it_found():
    reason = refusal_of("Taiwan's Chen wins in Chiba for first JLPGA title",
                        "Chen of Taiwan won in Chiba, her first title on the Japan LPGA Tour. Japan's fans cheered.")

    assert reason.startswith("held back by a gate: ") and "JLPGA" in reason


def test_a_refusal_gives_the_score_short_of_min_score_and_its_terms():
    (judged,) = judge_topics([default_topic()], title=_SUBSIDY_TITLE, text=_SUBSIDY_LEDE + " " + _SUBSIDY_CLOSE
                             + " Taiwan's Chip makers, too, were invited.")

    assert isinstance(judged, Refusal) and judged.reason == "score 1 < min 2, and it is no brief"
    assert judged.score == 1 and "Taiwan" in judged.terms


def test_a_refusal_says_the_sides_are_named_apart():
    text = "\n\n".join((_SUBSIDY_LEDE, "Officials said Japan hopes the plant will one day rival the fabs TSMC runs "
                        "in Taiwan. TSMC said Taiwan would watch.", _SUBSIDY_CLOSE))

    assert refusal_of(_SUBSIDY_TITLE, text) == (
        "its sides are named apart: not each in the title or first paragraph, and together in 1 sentence "
        "(fewer than 2)")


def test_a_refusal_names_a_roundups_other_countries():
    assert refusal_of(_HOTEL_TITLE, _HOTEL_RATES) == (
        "a roundup: it names 5 other countries (Hong Kong, Singapore, South Korea, Thailand, Vietnam) "
        "and its sides meet only beside them")


@pytest.mark.parametrize(("title", "story"), [
    ("Japanese tourist detained after scooter crash in Taipei",
     "Police in Taipei detained a 34-year-old Japanese man on Sunday after he crashed a rented scooter into a "
     "parked car while drunk. The Japanese tourist was released on bail and barred from leaving Taiwan."),
    ("台湾の観光客運転のレンタカー、石垣島で事故", "沖縄県石垣市で、台湾から訪れた男性の運転するレンタカーが"
     "ガードレールに衝突した。警察によると、男性は台湾と違う左側通行に慣れていなかった。日本で運転する外国人の事故が増えている。"),
    ("台灣網紅大阪違規拍攝遭罰款", "一名臺灣網紅日前在日本大阪越過鐵路道口栏杆拍攝列車，被日本警方處以罰款。"
     "他事後在臺灣的社群平台道歉，大阪的鐵路公司表示將加強巡邏。"),
])
def test_one_persons_brush_with_police_or_courts_naming_both_countries_does_not_match(title: str, story: str):
    assert match_topic(default_topic(), title=title, text=story) is None


@pytest.mark.parametrize(("title", "story"), [
    ("Japan arrests captain of Taiwanese fishing boat off Yonaguni",
     "The Japan Coast Guard arrested the captain of a Taiwanese fishing boat on Monday for fishing inside "
     "Japan's waters off Yonaguni. Taiwan's fisheries agency said it had asked Japan to release the captain."),
    ("Taiwan, Japan police break up phone-scam ring",
     "Police in Taiwan and Japan arrested 14 suspects in a joint operation against a phone-scam ring that cheated "
     "elderly people in Japan, Taiwan's Criminal Investigation Bureau said, thanking Japan's National Police Agency."),
])
def test_an_arrest_the_two_states_act_on_together_or_against_each_other_matches(title: str, story: str):
    assert match_topic(default_topic(), title=title, text=story) is not None


def test_a_coachs_hire_in_taiwans_pro_baseball_league_does_not_match():
    story = ("中職味全龍昨天宣布，延攬曾任日本職棒打擊教練的佐藤擔任一軍打擊教練。球團表示，"
             "希望藉由佐藤的經驗提升長打能力。佐藤說，臺灣打者爆發力佳，春訓將於明年1月在斗六展開。")

    assert match_topic(default_topic(), title="味全龍延攬日籍打擊教練", text=story) is None


@pytest.mark.parametrize("prefecture", ["Saga", "Kochi", "Mie"])
def test_a_prefecture_the_gazetteer_leaves_out_names_japan_with_the_word_prefecture(prefecture: str):
    text = (f"Changhua's Lukang Township and a city in {prefecture} Prefecture signed a friendship pact on Monday. "
            f"The {prefecture} Prefecture delegation visited Lukang's Tianhou Temple, and Lukang will send students "
            "to the city next spring under the pact, the township office in Changhua said.")

    assert match_topic(default_topic(), title="Lukang signs friendship pact", text=text) is not None


@pytest.mark.parametrize(("title", "story"), [
    ("Japan and Taiwan stocks rebound on China data",
     "Japan and Taiwan stocks rose on Tuesday after upbeat factory data from China. In Tokyo the Nikkei 225 "
     "closed 1.3% higher, led by utilities and steel.\n\nIn Taiwan the Taiex gained 1.7%, with cement and glass "
     "makers rallying; on the Taiwan Stock Exchange 668 stocks rose and 172 fell, while Japan's exporters lagged."),
    ("台股日股同步收紅", "台股今天終場上漲1.7%，日股日經指數也收高1.3%。法人表示，日本出口股表現落後，台灣水泥與玻璃類股領漲。"
     "台北股市成交量放大，日本東京股市則受日圓走強影響漲幅收斂。"),
])
def test_a_market_wrap_naming_both_bourses_does_not_match(title: str, story: str):
    assert match_topic(default_topic(), title=title, text=story) is None


def test_a_story_about_investment_between_the_two_that_quotes_a_share_price_matches():
    story = ("TSMC said on Tuesday it would invest a further US$5 billion in its Kumamoto plant in Japan, and its "
             "shares rose 2% in Taipei. Japan's industry ministry said the investment would deepen chip cooperation "
             "between Taiwan and Japan, and Taiex futures rose on the news.")

    assert match_topic(default_topic(), title="TSMC to invest more in Japan", text=story) is not None


def test_a_de_facto_embassys_name_counts_on_both_sides():
    story = ("The Japan-Taiwan Exchange Association held a reception for 300 guests on Friday. The association's "
             "head said trade had reached a record. Guests from business, academia and local government attended.")

    match = match_topic(default_topic(), title="JTEA reception draws 300 guests", text=story)

    assert match is not None and '"Japan-Taiwan Exchange Association"' in match.terms


def test_the_parties_name_their_countries_in_english_as_in_chinese_and_japanese():
    brief = ("Kuomintang Chairwoman Cheng met Liberal Democratic Party Secretary-General Suzuki in Tokyo on Wednesday "
             "and said the KMT wanted stable and friendly relations with Japan, her party said after a week of "
             "meetings in the capital.")

    match = match_topic(default_topic(), title="KMT chair meets LDP secretary-general", text=brief)

    assert match is not None and {"Kuomintang", "KMT", '"Liberal Democratic Party"'} <= set(match.terms)


@pytest.mark.parametrize(("title", "story"), [
    ("花滑NHK杯：日本選手包攬女單前二", "國際滑聯花樣滑冰大獎賽NHK杯在日本大阪結束女子單人滑比賽，日本選手分獲冠亞軍。"
     "中國臺北選手以總分178分排名第八，日本選手在男子單人滑也奪冠。"),
    ("台灣出生棋手奪日本圍棋名人戰", "在臺灣出生、少年時期赴日學棋的棋手，在日本圍棋名人戰第六局獲勝，"
     "奪得名人頭銜。他12歲赴日拜入日本棋院門下，臺灣棋界也為他慶賀。"),
    ("宜蘭鰻苗季開跑 日本鰻苗喊價60元", "宜蘭沿海鰻苗季開跑，臺灣漁民入夜後在海邊撈捕。今年首批日本鰻苗每尾收購價約60元，"
     "漁民表示日本鰻苗數量受黑潮影響。宜蘭縣府提醒注意夜間安全。"),
])
def test_skating_board_games_and_a_species_named_for_japan_are_gated(title: str, story: str):
    assert match_topic(default_topic(), title=title, text=story) is None


def test_rescuing_one_hiker_does_not_lift_the_incident_gate():
    story = ("A 63-year-old Japanese tourist was airlifted to hospital on Thursday after falling from a trail in "
             "Taroko National Park in Hualien, Taiwan. The Japanese man was rescued by a helicopter crew and is in "
             "stable condition with a broken leg, Taiwan's fire department said.")

    assert match_topic(default_topic(), title="Japanese hiker rescued in Taroko", text=story) is None


def test_aid_between_the_two_after_a_disaster_lifts_the_incident_gate():
    story = ("Japan sent a 60-member rescue team to Hualien on Thursday after the earthquake injured more than 800 "
             "people in Taiwan. Taiwan's foreign ministry thanked Japan for the aid, and Japan's government pledged "
             "relief supplies for hospitals in Hualien.")

    assert match_topic(default_topic(), title="Japan sends rescue team to Taiwan", text=story) is not None


def test_a_patient_flown_across_under_a_medical_pact_lifts_the_incident_gate():
    story = ("A Yonaguni resident who suffered a stroke was airlifted to a hospital in Hualien on Monday, the first "
             "use of an emergency medical arrangement between Yonaguni Town and Hualien County. Yonaguni's mayor "
             "thanked Hualien, and Okinawa Prefecture will review the arrangement with Hualien next year.")

    assert match_topic(default_topic(), title="Yonaguni patient airlifted to Hualien", text=story) is not None


@pytest.mark.parametrize(("title", "story"), [
    ("Winter haze hits Kyushu and northern Taiwan",
     "PM2.5 levels rose above safety guidelines across northern Kyushu on Thursday, and Fukuoka advised residents "
     "to stay indoors. Taiwan reported red air quality alerts in Taipei and Keelung as the haze crossed the strait."),
    ("日本資深聲優辭世 台灣粉絲悼念", "日本資深聲優7日辭世，享壽79歲。臺灣不少動畫迷在網上留言悼念，"
     "有粉絲團將在臺北舉辦紀念放映會，日本的經紀公司也發表聲明。"),
    ("日航機が台湾・桃園に緊急着陸", "日本航空の成田発バンコク行きが、機内で乗客が意識を失ったため台湾の桃園国際空港に"
     "緊急着陸した。日本航空によると、同便は約2時間後に再出発した。台湾の空港当局も対応した。"),
])
def test_haze_a_voice_actor_and_an_emergency_landing_naming_both_countries_do_not_match(title: str, story: str):
    assert match_topic(default_topic(), title=title, text=story) is None


def test_the_two_space_agencies_name_their_countries():
    brief = "TASA will launch its ocean satellite on a JAXA rocket from Tanegashima in 2027, the agencies said."

    match = match_topic(default_topic(), title="TASA satellite to fly on H3", text=brief)

    assert match is not None and {"TASA", "JAXA"} <= set(match.terms)


def test_taiwans_ocean_affairs_council_and_academia_sinica_name_taiwan_as_naoj_names_japan():
    brief = ("The Ocean Affairs Council's minister met Japan Coast Guard officials in Tokyo on Monday to discuss "
             "rescue cooperation near Yonaguni, and Academia Sinica signed a telescope pact with NAOJ.")

    match = match_topic(default_topic(), title="Ocean council chief in Tokyo", text=brief)

    assert match is not None and {'"Ocean Affairs Council"', '"Academia Sinica"', "NAOJ"} <= set(match.terms)


def test_a_route_story_naming_a_citys_gardens_is_no_gardening_feature():
    story = ("Ibaraki's governor flew into Taoyuan on Monday to promote a new Starlux route between Taipei and "
             "Ibaraki Airport, inviting Taiwanese tourists to Mito's plum gardens. Taiwan's travel agents said the "
             "route would open in March, and Ibaraki will host Taiwanese school trips next year.")

    assert match_topic(default_topic(), title="Ibaraki governor promotes Taipei route", text=story) is not None


@pytest.mark.parametrize(("title", "story"), [
    ("Japanese actor wins Golden Horse award",
     "A Japanese actor won best supporting actor at Taiwan's Golden Horse awards in Taipei on Saturday for a "
     "role in a Taiwanese thriller. He thanked the Taiwanese crew in Japanese and Mandarin."),
    ("Taiwanese guard stars in B.League win",
     "Taiwanese guard Lin scored 24 points as Shimane beat Okinawa in Japan's B.League on Sunday. Lin, who joined "
     "from Taiwan's P. League+ last year, is the league's top scorer among Taiwanese players in Japan."),
])
def test_a_film_award_and_a_basketball_league_naming_both_countries_do_not_match(title: str, story: str):
    assert match_topic(default_topic(), title=title, text=story) is None
