"""Topics: a named query from the configuration, and how an article is scored against it.

Pure functions, no I/O. A topic is matched on an article's title and extracted text only, never on
page furniture or metadata. The topic list in the configuration (name, query, min_score per topic)
changes what is matched; `default_topics()` is the built-in Taiwan–Japan topic.

The query language (syntax, folding, how a term is found) is `kuroshio.storage.query`, shared with
search.

Scoring, so that a passing mention does not count: a term scores its occurrences in the text plus
TITLE_WEIGHT × its occurrences in the title; OR sums its children; AND takes the minimum of its
children, since a topic is only as strong as its weakest required side; NOT is a gate that adds no
score (an AND ignores its gates when taking the minimum). An article matches a topic when the query
holds and the score reaches the topic's min_score — or, for a brief (`BRIEF_WORDS`), 1.

A score counts mentions wherever they are, so a story about one side that names the other in passing
(a sales region, a dateline, one country in a list) can still reach it. Outside a brief, the required
sides of a query (the children of its top-level AND, gates aside) must therefore meet in the text: each
is named in the head (the title or the first paragraph, where a story says what it is about), or every
side is named in one sentence at least `MEETING_SENTENCES` times (`kuroshio.storage.text.sentence_starts`
ends sentences at Latin and CJK full stops and at line breaks). A query with fewer than two required
sides is not asked. A story that names `ROUNDUP_COUNTRIES` countries besides those the query names by
`@` is a roundup (hotel rates across Asia, an airline's routes, a senators' tour of three capitals), and
its sides must also meet in a sentence naming none of those others. The matched terms are unchanged:
they say what was found, the rule where.

A topic may name a learned second stage (`Topic.scorer`, `kuroshio.crawler.scorer`), as the default topic
does: for an article that names every required side, it may veto the rules' match or admit what they
refused, where its probability is past one of its two thresholds; elsewhere the rules' judgement stands.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import Literal, overload

from kuroshio.crawler.scorer import Evidence, Scorer, features, scorer_for
from kuroshio.storage.gazetteer import known_countries, resolve_country
from kuroshio.storage.query import (
    And,
    LeafScore,
    Not,
    Occurrences,
    Or,
    Place,
    Query,
    Term,
    evaluate,
    occurrence_starts,
    occurrences,
    occurring_leaves,
    parse_query,
    place,
)
from kuroshio.storage.records import TopicMatch
from kuroshio.storage.segment import CJK_CHAR, CJK_CHARS
from kuroshio.storage.text import FoldedText, Needles, TermPattern, sentence_starts

TITLE_WEIGHT = 3
"""One occurrence in the title is worth this many in the body: a headline names what a story is about."""

DEFAULT_MIN_SCORE = 2.0
"""With AND taking the minimum, every required side must reach this score: two mentions in the body or
one in the title. A single passing mention ("... as Japan did last year") is not enough."""

DEFAULT_TOPIC_NAME = "taiwan-japan"
DEFAULT_SCORER = "taiwan-japan"
"""The learned second stage shipped for the default query (`kuroshio.crawler.scorer`)."""

MATCHER_VERSION = 6
"""Raised whenever how an article is matched changes for the same query (how terms are found, scored or
thresholded): each topic's fingerprint includes it, so the daemon re-scores the archive scored by the
older matcher. 2: CJK terms as words, every Han variant folded, the brief rule. 3: a Chinese term that
begins inside one whole word and ends inside the next is not a word (天文台日环食's 台日). 4: a query's
required sides must meet, in the head or in two sentences (`MEETING_SENTENCES`). 5: a roundup's sides
must meet away from the other countries (`ROUNDUP_COUNTRIES`); a sentence also ends at … and at a stop
inside closing brackets (`kuroshio.storage.text.SENTENCE_STOP`, shared with the extraction's evidence).
6: 日 right after a day of the month (3日台州) begins no word (`kuroshio.storage.segment`).
A topic's learned second stage (`Topic.scorer`) needs no new version: the digest of its weights is part
of the topic's fingerprint (`kuroshio.scheduler.rematch.topic_fingerprint`)."""

# Each side is a country by all its names (`@Taiwan`, `@Japan`: names, people, capital, divisions and
# major cities from the shipped gazetteer, so a story about Kumamoto's governor in Kaohsiung counts),
# plus what names it without a place: 台日 and 日台, the press's shorthand for the relationship
# (台日關係, 日台交流), sit on both sides; TSMC and Taiwan's president and branches of government on
# Taiwan's; Japan's ministries and ruling party on Japan's. CJK terms match words only, so neighbouring
# words that happen to spell a term (今日台北, 平台日前) do not count.
# Taiwan's side also has the agencies whose names no other government uses, for the briefs that name
# Taiwan only through one (食藥署 lifts curbs on Japanese food): not 外交部, 國防部 or 經濟部, which
# Beijing's ministries or other governments' share in Chinese. An agency's head is written as one word
# with it (衛福部長, 食藥署長), which the segmenter reads as 衛福 + 部長, so both forms are listed.
# 駐台 and 駐日 ("stationed in") name the de facto embassies and their envoys: 台北駐日經濟文化代表處,
# 日本駐台代表. Japan's side gets no more ministries: Japanese reports gloss a Taiwanese agency with its
# Japanese counterpart (農業部（農水省に相当）), which would count a domestic Taiwan story's gloss as a
# second mention of Japan. It does get the forces and the coast guard that no other country names so
# (自衛隊, Self-Defense Forces, 海上保安庁 and its regional 管区海上保安本部): a destroyer in the strait or
# a Yilan boat warned off the Senkakus is reported through them. Each side's space agency (JAXA, TASA)
# is its own, too, as are Taiwan's Ocean Affairs Council and Academia Sinica and Japan's national
# observatory (NAOJ). 日方 and 台方 ("the Japanese side",
# "the Taiwanese side") are how Chinese reports, Beijing's above all, name the other party once they
# have named it. Some of a country's names are Chinese shorthand for a name that holds the country in
# English: 台海 for the Taiwan Strait, 台電 for Taiwan Power (Taipower), 台商 and 日商 for Taiwanese and
# Japanese business; the English spelling names the country, so the shorthand must too. The parties
# count on their side in English as in Chinese and Japanese (自民党 and the Liberal Democratic Party; the
# Kuomintang, KMT, and the Democratic Progressive Party, as 國民黨 and 民進黨), and so do the other parties
# of each parliament whose names no other country's party shares: the Taiwan People's Party (民眾黨) and the
# New Power Party; Japan's Constitutional Democrats, the DPFP (国民民主党, not the KMT's 國民黨), Ishin,
# Komeito and Sanseito. A Japanese brief on a party's delegation to Taipei names Japan through its party
# alone, being written in Japanese. Not the communist parties, which every country has. Japan's
# regions are no first-level divisions, yet a utility, a university or an airport is named for one
# (Kyushu Electric, Tohoku University, Kansai Airport). Not 四国 ("four countries" in Chinese), 東北 (China's
# northeast) or 関西 (a Hsinchu township): only the forms no other place shares. Three prefectures the
# gazetteer leaves out in English (Saga is a word, Kochi a city in India, Mie too short) count with the
# word the press writes after them.
# The two de facto embassies are the relationship itself, like 台日 and 日台: their names count on both
# sides, in every script and with their abbreviations.
_DE_FACTO_EMBASSIES = (
    '"Japan-Taiwan Exchange Association" OR JTEA OR 日本台湾交流協会 OR 日本台灣交流協會 OR 日本台湾交流协会'
    ' OR "Taiwan-Japan Relations Association" OR TJRA OR 台灣日本關係協會 OR 台湾日本関係協会 OR 台湾日本关系协会'
)
_TAIWAN_SIDE = (
    f'@Taiwan OR 台日 OR 日台 OR {_DE_FACTO_EMBASSIES} OR TSMC OR 台積電 OR 賴清德 OR 頼清徳 OR "Lai Ching-te"'
    ' OR "Executive Yuan" OR 行政院 OR "Legislative Yuan" OR 立法院 OR "Control Yuan" OR 監察院'
    ' OR "Judicial Yuan" OR 司法院 OR "Examination Yuan" OR 考試院'
    ' OR 衛福部 OR 衛福部長 OR 衛生福利部 OR 食藥署 OR 食藥署長 OR 食品藥物管理署 OR 疾管署 OR 疾管署長'
    ' OR 陸委會 OR 大陸委員會 OR "Mainland Affairs Council" OR 海巡署 OR 海巡署長 OR "Coast Guard Administration"'
    ' OR 國發會 OR 國科會 OR 金管會 OR 觀光署 OR 觀光署長 OR 駐台 OR 台方 OR 台海 OR 台電 OR Taipower OR 台商'
    ' OR Kuomintang OR KMT OR 國民黨 OR "Democratic Progressive Party" OR 民進黨 OR TASA OR 國家太空中心'
    ' OR "Taiwan People\'s Party" OR 台灣民眾黨 OR 民眾黨 OR 民衆党 OR "New Power Party" OR 時代力量'
    ' OR "Ocean Affairs Council" OR 海委會 OR 海洋委員會 OR "Academia Sinica" OR 中研院 OR 中央研究院'
)
_JAPAN_SIDE = (
    f'@Japan OR 台日 OR 日台 OR {_DE_FACTO_EMBASSIES} OR 外務省 OR 経済産業省 OR 防衛省 OR 自民党 OR "Liberal Democratic Party" OR 駐日 OR 日方'
    ' OR 立憲民主党 OR "Constitutional Democratic Party" OR 国民民主党 OR "Democratic Party for the People"'
    ' OR 日本維新の会 OR 維新の会 OR "Japan Innovation Party" OR "Nippon Ishin" OR 公明党 OR Komeito OR 参政党'
    ' OR 自衛隊 OR "Self-Defense Force" OR "Self-Defense Forces" OR 海上保安庁 OR 海上保安本部 OR 日商'
    ' OR JAXA OR 宇宙航空研究開発機構 OR 国立天文台 OR NAOJ'
    ' OR Kyushu OR Shikoku OR Honshu OR Tohoku OR Hokuriku OR Kanto OR Kansai OR Chubu OR Kinki'
    ' OR 九州 OR 本州 OR 東北地方 OR 北陸 OR 関東 OR 近畿 OR 中部地方'
    ' OR "Saga Prefecture" OR "Kochi Prefecture" OR "Mie Prefecture"'
)
# Stories that name both countries for another reason: a typhoon's or a tsunami's track, a tournament's
# line-up or a game's result in any sport (a Taiwanese golfer's win on the Japanese tour), a disease
# named after Japan. They are excluded unless they also speak of aid or exchange between the two
# (Japan's rescuers after a Hualien earthquake are on topic). Figure skating, go and shogi, and a species
# named for Japan (the Japanese eel) are in it too, and the leagues where players cross (B.League,
# P. League+). Chinese sports pages name the sport only
# through its teams (中華男籃, 中華隊 "Chinese Taipei"), a league (中職, the CPBL) or its people (教練,
# 投手), and a tournament by its name (World Cup, a qualifier, the Asian Games). Haze and yellow dust
# drift over both, as a typhoon does.
_HAZARD_OR_SPORT = (
    'typhoon* OR 颱風 OR 台風 OR tsunami* OR 海嘯 OR 津波 OR "weather bureau" OR 氣象署 OR 気象庁'
    ' OR 氣象局 OR "Central Weather Administration" OR "Japan Meteorological Agency"'
    ' OR baseball OR 棒球 OR 野球 OR WBC OR "World Baseball Classic" OR marathon OR 馬拉松 OR マラソン'
    ' OR Olympic* OR 奧運 OR 五輪 OR golf* OR LPGA OR JLPGA OR PGA OR 高爾夫 OR ゴルフ OR tennis OR 網球 OR テニス'
    ' OR football OR soccer OR 足球 OR サッカー OR basketball OR 籃球 OR バスケットボール OR volleyball OR 排球'
    ' OR バレーボール OR badminton OR 羽球 OR 羽毛球 OR バドミントン OR 桌球 OR 乒乓球 OR 卓球'
    ' OR 男籃 OR 女籃 OR 男排 OR 女排 OR 男足 OR 女足 OR 中華隊 OR "World Cup" OR 世界盃 OR 世界杯 OR ワールドカップ'
    ' OR CPBL OR NPB OR 中職 OR 職棒 OR 球團 OR 教練 OR 投手 OR 打者 OR pitcher OR pitchers OR outfielder OR infielder'
    ' OR "figure skating" OR skater OR skaters OR 花滑 OR 花樣滑冰 OR 花式滑冰 OR 滑冰 OR フィギュア OR スケート'
    ' OR 圍棋 OR 囲碁 OR 棋士 OR 棋手 OR 將棋 OR 将棋 OR chess OR handball OR 手球 OR ハンドボール'
    ' OR "Asian Games" OR 亞運 OR アジア大会 OR qualifier OR qualifiers OR 資格賽 OR 預選賽'
    ' OR B.League OR Bリーグ OR "T1 League" OR "P. League+"'
    ' OR haze OR smog OR "PM2.5" OR "air quality" OR 霾 OR 霧霾 OR 空汙 OR 空品 OR 黃沙 OR 黄砂 OR 大気汚染'
    ' OR "Japanese encephalitis" OR 日本腦炎 OR 日本脳炎 OR "Japanese eel" OR "Japanese eels" OR 日本鰻 OR 日本鰻苗'
)
_AID = "aid OR donat* OR relief OR condolence* OR 援助 OR 支援 OR 救援 OR 捐款 OR 義援金 OR 慰問"
_COOPERATION = "交流 OR 合作 OR 協力 OR 友好 OR friendship OR exchange* OR cooperat*"
_EXCHANGE = f"{_AID} OR rescue* OR {_COOPERATION}"
# Lifestyle, culture and entertainment features: a Japanese-style ramen shop or kissaten in Taipei, a
# Taiwanese sweets shop in Tokyo, a garden column's Taiwan cherry and Japanese maple, anime or fashion
# trends, a Taiwan-born novelist's literary prize in Tokyo, a Taipei band's concert there, a film, a TV
# drama, an idol or a video game. They name both countries for a style's origin, a chef's training, a
# plant's name or an artist's birthplace and stage, with no exchange, trade or policy in them; one that
# speaks of exchange or of trade (exports of fruit to the other's restaurants, a friendship concert)
# counts. A film award (the Golden Horse) is such a feature; a city's gardens in a route or tourism story
# are not a gardening column, so only the singular counts. Exhibitions are not in the gate: a museum's
# loan to the other side's museum is an exchange between institutions whether or not the story says so.
# Words with an everyday sense beside the cultural one are left out (novel "new", film "coating", ライブ
# "live stream", 遊戲 "game" in politics). A consumer chain's store opening on the other side (a burger
# chain's 300th store, an izakaya's franchisee) is the same kind of story; 加盟 alone is not in it, since
# it also means joining a pact (TPP).
_LIFESTYLE_FEATURE = (
    "restaurant* OR cuisine OR chef OR chefs OR Michelin OR \"Bib Gourmand\" OR bakery OR bakeries OR dessert*"
    " OR 餐廳 OR 餐館 OR 美食 OR 米其林 OR 必比登 OR 主廚 OR 料理店 OR 小吃 OR 甜點"
    " OR レストラン OR 飲食店 OR 専門店 OR 店主 OR グルメ OR ミシュラン OR シェフ OR スイーツ"
    " OR cafe OR cafes OR café OR cafés OR coffee OR kissaten OR 咖啡 OR 咖啡廳 OR 咖啡店 OR カフェ OR 喫茶店 OR コーヒー"
    " OR garden OR gardening OR gardener* OR 園藝 OR 花園 OR ガーデニング"
    " OR fashion OR 時尚 OR ファッション OR anime OR manga OR cosplay OR 動漫 OR 漫畫 OR アニメ OR 漫画"
    " OR novels OR novelist OR novelists OR literary OR literature OR poet OR poets OR poetry"
    " OR 文學 OR 小說 OR 作家 OR 詩人 OR 芥川賞 OR 直木賞"
    " OR concert OR concerts OR singer OR singers OR band OR bands OR album OR albums"
    " OR 演唱會 OR 歌手 OR 樂團 OR 歌迷 OR 巡演 OR コンサート OR バンド"
    ' OR movie OR movies OR cinema OR filmmaker OR filmmakers OR "film festival" OR "box office" OR 電影 OR 映画'
    ' OR "Golden Horse" OR 金馬獎 OR 金馬'
    " OR drama OR dramas OR 電視劇 OR 日劇 OR ドラマ OR idol OR idols OR 偶像 OR アイドル"
    ' OR "voice actor" OR "voice actors" OR 聲優 OR 声優'
    ' OR "video game" OR "video games" OR 電玩 OR 手遊 OR ゲーム'
    " OR store OR stores OR franchise* OR 門市 OR 分店 OR 展店 OR 加盟店 OR 加盟商 OR 店舗 OR 出店 OR 號店 OR 旗艦店"
)
_TRADE = "export* OR import* OR invest* OR 輸出 OR 輸入 OR 出口 OR 進口 OR 投資"
# One person's brush with the police, a court or the road: a tourist's crash or fine, an arrest, a
# sentence for counterfeiting the other side's brand. The other country is named for a nationality or a
# brand, with no state or people acting between the two. It counts when it speaks of aid, exchange or
# cooperation, or of what the two states do about such cases: a coast guard's or a fisheries agency's
# arrest of a boat's captain, Interpol, an extradition, a protest. A rescue alone does not lift it (a
# hiker airlifted to hospital is rescued by his hosts), though aid from one side to the other does, and
# so does medical care across (a Yonaguni patient flown to Hualien under the two towns' pact). A flight's
# emergency landing is one too.
_INCIDENT = (
    'police OR arrest* OR detained OR "district court" OR "high court" OR sentenced OR prison OR jailed'
    " OR prosecutor* OR suspect OR suspects OR crash OR crashed OR fined"
    " OR 警方 OR 警察 OR 逮捕 OR 法院 OR 判決 OR 判刑 OR 地檢署 OR 嫌犯 OR 車禍 OR 交通事故 OR 罰款 OR 罰鍰"
    " OR 容疑者 OR 地裁 OR 罰金 OR 県警 OR 府警"
    " OR injured OR hospital OR hospitalized OR airlifted OR 受傷 OR 送醫 OR 骨折 OR 負傷 OR 重体 OR 滑落 OR けが"
    ' OR "emergency landing" OR diverted OR 緊急着陸 OR 迫降 OR 備降'
)
_BETWEEN_STATES = (
    '"coast guard" OR 海巡 OR 海巡署 OR 海上保安庁 OR 海上保安本部 OR 海保 OR fishing OR fisheries OR 漁船 OR 漁業'
    " OR 漁民 OR Interpol OR 國際刑警 OR 国際刑事警察機構 OR extradit* OR 引渡 OR 遣返 OR protest* OR 抗議 OR joint"
    " OR 聯手 OR medical OR 醫療 OR 医療"
)
# A market wrap: the two bourses side by side, often in the headline ("Japan and Taiwan stocks rebound").
# Not "Nikkei" alone, which is also the newspaper. A story about investment or cooperation between the two
# that quotes a share price counts; trade words do not lift this gate, since every wrap speaks of
# exporters and investors, nor does "exchange", which is the bourse's name.
_MARKET_WRAP = (
    '"Nikkei 225" OR "Nikkei average" OR "Nikkei Stock Average" OR Taiex OR TOPIX OR "stock market"'
    ' OR "stock markets" OR "Hang Seng" OR 股市 OR 台股 OR 日股 OR 日經 OR 日經指數 OR 加權指數 OR 股價'
    " OR 股匯 OR 株価 OR 日経平均 OR 株式市場 OR 東証 OR 台湾株 OR 為替"
)
_INVESTMENT_OR_COOPERATION = (
    "invest OR invests OR investment OR investments OR 投資 OR cooperat* OR 合作 OR 協力 OR 交流 OR friendship"
)
DEFAULT_TOPIC_QUERY = (
    f"({_TAIWAN_SIDE}) AND ({_JAPAN_SIDE}) AND NOT (({_HAZARD_OR_SPORT}) AND NOT ({_EXCHANGE}))"
    f" AND NOT (({_LIFESTYLE_FEATURE}) AND NOT ({_EXCHANGE} OR {_TRADE}))"
    f" AND NOT (({_INCIDENT}) AND NOT ({_AID} OR {_COOPERATION} OR {_BETWEEN_STATES}))"
    f" AND NOT (({_MARKET_WRAP}) AND NOT ({_INVESTMENT_OR_COOPERATION}))"
)

BRIEF_WORDS = 40
"""A text shorter than this many words is a brief: one or two sentences that name each side once, which
is all the evidence a brief gives, so each required side needs only one mention. Words are counted
the way each script is read: a Latin word is one, two Han or kana characters are one."""

MEETING_SENTENCES = 2
"""How many sentences must name every required side, when the head (title and first paragraph) does not
name each: a story about the relationship names the two together again and again, a story that names
one side in passing (a sales region, a dateline, one country in a list) does so once at most."""

ROUNDUP_COUNTRIES = 3
"""How many countries a story must name besides those its query names by `@` to be read as a roundup: hotel
rates across Asia, an airline's new routes, a senators' tour of three capitals. Such a story names the
topic's countries beside the others, in a headline or a list, and its sides meet only there; so when
they do not also meet in a sentence naming none of the others, it is not on the topic. A story about the
two that names China's protest and the United States' view still meets that: it names the two on their
own again and again."""

ROUNDUP_KINDS = ("country", "demonym", "capital")
"""The names that count another country as named: its own, its people's, its capital's. Not its divisions
and cities: two hundred countries' hold words of every language (Togo's Maritime region)."""

_LATIN_WORD = re.compile(f"[^\\W{CJK_CHARS}]+")


@dataclass(frozen=True)
class Topic:
    """A named query and the score an article must reach to be on topic.

    The query is kept as written and parsed when it is first used (`query`), once a process: a crawl
    that finds nothing new matches no article, and parsing the built-in query, its gazetteer expanded,
    is a tenth of a second of CPU. A topic goes to the extraction workers as its text, parsed there.
    """

    name: str
    query_text: str
    min_score: float = DEFAULT_MIN_SCORE
    scorer: str | None = None
    """A learned second stage by its name or its file (`kuroshio.crawler.scorer`), trained for this query."""

    def __deepcopy__(self, memo: dict[int, object]) -> Topic:
        """The topic itself: it is immutable all the way down (frozen dataclasses, compiled patterns), and
        Scrapy deep-copies each source's settings (`Settings.copy`), topics included, when it builds the
        source's Crawler: a copy of the default topic's 667 terms cost 14 ms of CPU per source."""
        return self

    @property
    def query(self) -> Query:
        """The parsed query."""
        return _parsed_query(self.query_text)

    @property
    def second_stage(self) -> Scorer | None:
        """The loaded scorer, when the topic names one."""
        return scorer_for(self.scorer, self.query_text) if self.scorer else None

    @classmethod
    def from_config(cls, name: str, query: str, min_score: float = DEFAULT_MIN_SCORE,
                    scorer: str | None = None) -> Topic:
        """Build a topic from its configured query text; raises QuerySyntaxError on a bad query and
        ScorerError on a scorer that cannot serve it, so the configuration's error is reported when it
        loads (the parse is kept for the topic's first use)."""
        _parsed_query(query)
        if scorer:
            scorer_for(scorer, query)
        return cls(name=name, query_text=query, min_score=min_score, scorer=scorer or None)


@cache
def _parsed_query(text: str) -> Query:
    """`text` parsed, once a process however many topics and configuration loads hold it."""
    return parse_query(text)


def default_topics() -> list[Topic]:
    """The built-in topics, used when the configuration names none: Taiwan–Japan. Their queries are
    parsed on first use only (a test parses them)."""
    return [Topic(DEFAULT_TOPIC_NAME, DEFAULT_TOPIC_QUERY, scorer=DEFAULT_SCORER)]


def match_topic(topic: Topic, *, title: str, text: str) -> TopicMatch | None:
    """Score an article's title and text against one topic; None unless it holds and reaches min_score."""
    return _judge(_Reading(topic, FoldedText.of(title), FoldedText.of(text)), explain=False)


def match_topics(topics: Sequence[Topic], *, title: str, text: str) -> list[TopicMatch]:
    """Every topic the article matches, in the order the topics are given."""
    folded_title, folded_text = FoldedText.of(title), FoldedText.of(text)
    return [match for topic in topics if (match := _judge(_Reading(topic, folded_title, folded_text), explain=False))]


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why an article does not match a topic, in one line (`reason`), for a reader who asks: `kuroshio
    extract` and the relevance benchmark. `score` is what the article scored (0 when the query does not
    hold) and `terms` the query's terms that occurred, as a match would list them. Never stored."""

    topic: str
    reason: str
    score: float
    terms: tuple[str, ...]


def judge_topics(topics: Sequence[Topic], *, title: str, text: str) -> list[TopicMatch | Refusal]:
    """For each topic in order, its match or why there is none: the same judgement as `match_topics`."""
    folded_title, folded_text = FoldedText.of(title), FoldedText.of(text)
    return [_judge(_Reading(topic, folded_title, folded_text), explain=True) for topic in topics]


@dataclass(frozen=True)
class Explanation:
    """What a reader asks of an article's topics beyond the matches it is known to have (`kuroshio
    extract`, `kuroshio articles show`): why each other topic refuses it, the match a topic makes now
    where the known matches are older than its definition (a stored article before `kuroshio topics
    rematch`), and, by topic, why a known match is one the topic's rules refuse and its scorer admitted."""

    refusals: list[Refusal] = field(default_factory=list)
    matching_now: list[TopicMatch] = field(default_factory=list)
    admitted: dict[str, str] = field(default_factory=dict)


def explain_topics(topics: Sequence[Topic], matched: Collection[str], *, title: str, text: str) -> Explanation:
    """The `Explanation` of an article whose known matches are the topics named in `matched`."""
    folded_title, folded_text = FoldedText.of(title), FoldedText.of(text)
    explanation = Explanation()
    for topic in topics:
        reading = _Reading(topic, folded_title, folded_text)
        verdict = _verdict(reading)
        if topic.name in matched:
            if verdict.admitted is not None:
                explanation.admitted[topic.name] = verdict.admitted()
        elif verdict.refused is not None:
            explanation.refusals.append(_refusal(reading, verdict.score, verdict.refused))
        else:
            explanation.matching_now.append(_match(reading, verdict.score))
    return explanation


def scorer_features(topic: Topic, *, title: str, text: str) -> dict[str, float] | None:
    """The second stage's features of an article (`kuroshio.crawler.scorer.features`), or None when it
    does not name every required side of the topic's query, where no scorer ever judges: what
    `benchmarks/train_scorer.py` learns from."""
    reading = _Reading(topic, FoldedText.of(title), FoldedText.of(text))
    evidence = _evidence(reading)
    return None if evidence is None else features(evidence, title=reading.title.text, text=reading.text.text)


class _Reading:
    """One article as one topic reads it: where the query's terms occur, and what the rules and the second
    stage both ask of the text (its sentences, the other countries it names), found once when first asked."""

    def __init__(self, topic: Topic, title: FoldedText, text: FoldedText) -> None:
        self.topic, self.title, self.text = topic, title, text
        self.leaf_score = occurrences(topic.query, title, text, title_weight=TITLE_WEIGHT)

    @cached_property
    def sentence_at(self) -> list[int]:
        """Where each sentence of the text begins (`kuroshio.storage.text.sentence_starts`)."""
        return sentence_starts(self.text.text)

    @cached_property
    def others(self) -> dict[str, list[int]]:
        """The countries the query does not name that the story names, each with where the text does."""
        return _other_countries_of(self.topic.query_text).named(self.title, self.text)


@dataclass(frozen=True, slots=True)
class _Verdict:
    """The score, and why the article is refused (None for a match) or, for a match the rules refused, why
    the scorer admitted it; both worded only when called, since the crawl never asks."""

    score: float
    refused: Callable[[], str] | None
    admitted: Callable[[], str] | None = None


@overload
def _judge(reading: _Reading, *, explain: Literal[True]) -> TopicMatch | Refusal: ...
@overload
def _judge(reading: _Reading, *, explain: Literal[False]) -> TopicMatch | None: ...
def _judge(reading: _Reading, *, explain: bool) -> TopicMatch | Refusal | None:
    """The match, or else a Refusal when `explain` (its reason is worded only then) and None otherwise."""
    verdict = _verdict(reading)
    if verdict.refused is None:
        return _match(reading, verdict.score)
    return _refusal(reading, verdict.score, verdict.refused) if explain else None


def _match(reading: _Reading, score: float) -> TopicMatch:
    return TopicMatch(topic=reading.topic.name, score=score, terms=_matched_terms(reading.topic.query, reading.leaf_score))


def _refusal(reading: _Reading, score: float, reason: Callable[[], str]) -> Refusal:
    return Refusal(reading.topic.name, reason(), score, _matched_terms(reading.topic.query, reading.leaf_score))


def _verdict(reading: _Reading) -> _Verdict:
    """The rules' judgement, then the topic's second stage where it is confident (`Scorer.vetoes`,
    `Scorer.admits`)."""
    score, refused = _by_rules(reading)
    learned = _second_stage(reading)
    if learned is None:
        return _Verdict(score, refused)
    scorer, evidence, named, probability = learned
    if refused is None and scorer.vetoes(probability):
        def vetoed() -> str:
            return (f"the scorer reads it as off topic ({probability:.2f} < {scorer.veto_below:g}); "
                    f"most against: {scorer.explain(named, against=True)}")
        return _Verdict(score, vetoed)
    if refused is not None and scorer.admits(probability):
        by_rules = refused

        def admitted() -> str:
            return (f"admitted by the scorer ({probability:.2f} >= {scorer.rescue_from:g}), though by its rules "
                    f"{by_rules()}; most for: {scorer.explain(named, against=False)}")
        return _Verdict(max(score, min(evidence.side_scores)), None, admitted)
    return _Verdict(score, refused)


def _second_stage(reading: _Reading) -> tuple[Scorer, Evidence, dict[str, float], float] | None:
    """The topic's scorer, the article's evidence and features, and the probability it gives them; None
    without a scorer, or for an article that does not name every side (no scorer judges it)."""
    scorer = reading.topic.second_stage
    evidence = _evidence(reading) if scorer is not None else None
    if scorer is None or evidence is None:
        return None
    named = features(evidence, title=reading.title.text, text=reading.text.text)
    return scorer, evidence, named, scorer.probability(named)


def _by_rules(reading: _Reading) -> tuple[float, Callable[[], str] | None]:
    """The article's score, and why the rules refuse it (None when they match it), worded when called."""
    topic, leaf_score, text = reading.topic, reading.leaf_score, reading.text
    holds, evaluated = evaluate(topic.query, leaf_score)
    score = evaluated or 0.0
    if not holds:
        return 0.0, lambda: _not_held(topic.query, leaf_score)
    if score < min(topic.min_score, 1.0):
        return score, lambda: f"score {score:g} < min {topic.min_score:g}"
    # Only a score between 1 and min_score asks whether the text is a brief: most articles never count words.
    if score < topic.min_score and not _is_brief(text):
        return score, lambda: f"score {score:g} < min {topic.min_score:g}, and it is no brief"
    apart = _sides_apart(reading)
    if apart and not _is_brief(text):
        return score, lambda: apart
    return score, None


def _evidence(reading: _Reading) -> Evidence | None:
    """What the rules found, for the second stage; None unless every required side is named."""
    sides = _required_sides(reading.topic.query)
    leaf_score = reading.leaf_score
    scores = [evaluate(side, leaf_score)[1] or 0.0 for side in sides]
    if not sides or not all(scores):
        return None
    return Evidence(
        side_scores=tuple(scores),
        sides_in_title=tuple(bool(occurrence_starts(side, leaf_score, in_title=True)) for side in sides),
        shared_sentences=len(_shared_sentences([occurrence_starts(side, leaf_score) for side in sides],
                                               reading.sentence_at)),
        sentences=len(reading.sentence_at),
        other_countries=len(reading.others),
        gates=tuple(evaluate(gate.child, leaf_score)[0] for gate in _gates(reading.topic.query)),
    )


def _gates(query: Query) -> list[Not]:
    """The NOT children of a top-level AND: what holds a story back whatever its sides score."""
    return [child for child in query.children if isinstance(child, Not)] if isinstance(query, And) else []


def _not_held(query: Query, leaf_score: Occurrences) -> str:
    """Which required side is not named, or which gate holds, with what it found."""
    for child in query.children if isinstance(query, And) else (query,):
        if isinstance(child, Not) and evaluate(child.child, leaf_score)[0]:
            return f"held back by a gate: {', '.join(_matched_terms(child.child, leaf_score))} occur"
        if not isinstance(child, Not) and not evaluate(child, leaf_score)[0]:
            written = f"({child})" if isinstance(child, Or) else str(child)
            return f"nothing names {written if len(written) <= 60 else written[:59] + '…'}"
    return "the query does not hold"


def _sides_apart(reading: _Reading) -> str | None:
    """Why the query's required sides are not named together, or None when they are: each in the head
    (the title or the first paragraph), or all of them in one sentence, `MEETING_SENTENCES` times; and,
    in a story naming `ROUNDUP_COUNTRIES` countries the query does not name, in one sentence naming none
    of those. None for a query without two sides."""
    sides = _required_sides(reading.topic.query)
    if len(sides) < 2:
        return None
    leaf_score, text = reading.leaf_score, reading.text.text
    lede_end = text.find("\n\n")
    lede_end = len(text) if lede_end < 0 else lede_end
    starts = [occurrence_starts(side, leaf_score) for side in sides]
    in_head = all(occurrence_starts(side, leaf_score, in_title=True) or (found and found[0] < lede_end)
                  for side, found in zip(sides, starts, strict=True))
    if not in_head:
        shared = len(_shared_sentences(starts, reading.sentence_at))
        if shared < MEETING_SENTENCES:
            return (f"its sides are named apart: not each in the title or first paragraph, and together in "
                    f"{shared} sentence{'' if shared == 1 else 's'} (fewer than {MEETING_SENTENCES})")
    others = reading.others
    if len(others) < ROUNDUP_COUNTRIES:
        return None
    crowded = _shared_sentences([[start for found in others.values() for start in found]], reading.sentence_at)
    if _shared_sentences(starts, reading.sentence_at) - crowded:
        return None
    return (f"a roundup: it names {len(others)} other countries ({', '.join(sorted(others))}) and its sides "
            f"meet only beside them")


def _required_sides(query: Query) -> list[Query]:
    """The children of a top-level AND that are not gates: what a story must name, each on its own."""
    return [child for child in query.children if not isinstance(child, Not)] if isinstance(query, And) else []


def _shared_sentences(starts: Sequence[Sequence[int]], sentence_at: list[int]) -> set[int]:
    """The sentences (by number, `sentence_at` being where each begins) holding an offset of every list."""
    sentences = [{bisect_right(sentence_at, start) for start in found} for found in starts]
    return set.intersection(*sentences)


def _countries_named(query: Query) -> frozenset[str]:
    """The countries a query's sides name by `@`, by their English names; gates aside."""
    match query:
        case Place():
            return frozenset({resolve_country(query.country)})
        case And(children) | Or(children):
            return frozenset().union(*(_countries_named(child) for child in children))
    return frozenset()


@dataclass(frozen=True)
class _OtherCountries:
    """The names (`ROUNDUP_KINDS`) of every country a query does not name, found in one pass."""

    by_needle: dict[str, tuple[tuple[str, Term], ...]]
    needles: Needles

    def named(self, title: FoldedText, text: FoldedText) -> dict[str, list[int]]:
        """The countries named in the title or the text, each with where the text names it."""
        found: dict[str, list[int]] = {}
        for needle in self.needles.found_in(text.text) | self.needles.found_in(title.text):
            for country, term in self.by_needle[needle]:
                starts = [match.start() for match in text.finditer(term.pattern)]
                if starts or title.count(term.pattern):
                    found.setdefault(country, []).extend(starts)
        return found


@cache
def _other_countries_of(query_text: str) -> _OtherCountries:
    """The countries a query does not name, found once a process for each query, not for each story."""
    return _other_countries(_countries_named(_parsed_query(query_text)))


@cache
def _other_countries(named: frozenset[str]) -> _OtherCountries:
    """Built once a process for each set of named countries, when a story first asks (about 0.1 s): a query
    naming no country by `@` has none, so no story is ever taken for a roundup of it."""
    by_needle: dict[str, list[tuple[str, Term]]] = {}
    if named:
        for country in known_countries():
            if country not in named:
                for term in place(country, kinds=ROUNDUP_KINDS).children:
                    by_needle.setdefault(term.pattern.needle, []).append((country, term))
    terms = [term for pairs in by_needle.values() for _, term in pairs]
    return _OtherCountries({needle: tuple(pairs) for needle, pairs in by_needle.items()},
                           Needles(term.pattern for term in terms))


def _is_brief(text: FoldedText) -> bool:
    words = len(_LATIN_WORD.findall(text.text)) + len(CJK_CHAR.findall(text.text)) / 2
    return words < BRIEF_WORDS


def _matched_terms(query: Query, leaf_score: LeafScore) -> tuple[str, ...]:
    """The positive terms that occurred, one per normalised form, by score descending then as written."""
    best: dict[TermPattern, tuple[float, str]] = {}
    for leaf in occurring_leaves(query, leaf_score):
        score = leaf_score(leaf)
        if score > 0:
            best.setdefault(leaf.pattern, (score, leaf.written))
    return tuple(written for _, written in sorted(best.values(), key=lambda item: (-item[0], item[1])))
