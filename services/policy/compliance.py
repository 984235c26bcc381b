"""The compliance rules an admin configures (issue 8): pure functions of a post and its context, no I/O,
called by ``rules.evaluate`` for both the live check and the decision on a submitted share.

Each rule has a kind, an action and a message, and may be narrowed to a network, a campaign or a team.
``findings`` turns the rules in force and a post into ``Violation``s, one per thing found, each with the
rule's action and, where the finding is a piece of the text, its span (UTF-16 offsets, see
``counting.utf16_offset``). ``refusals`` tells why a rule cannot be saved (issue item 16): an empty or
meaningless phrase, a pattern that does not compile, runs too long on a probe or would match every post,
a quiet period overlapping another or longer than a year, a rule that checks nothing.

Text is compared *folded* (``fold``): case-folded, decomposed, with the combining marks (accents)
dropped, so "garantito" meets "GARANTITO" and "garantitò". A phrase matches whole words only, with the
Unicode notion of a word character, so it does not meet "garantitori"; at an edge written in a script
that puts no spaces between words (Chinese, Japanese, Thai...) no word boundary is asked, since there
is none to find.
"""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import regex

from services.policy.counting import links, utf16_offset
from services.policy.rules import Action, Violation


class RuleKind(StrEnum):
    PHRASES = "phrases"
    PATTERN = "pattern"
    DISCLOSURE = "disclosure"
    LINKS = "links"
    HASHTAGS = "hashtags"
    QUIET_PERIOD = "quiet_period"
    CAP = "cap"
    PERSONAL_TOUCH = "personal_touch"


class CapPeriod(StrEnum):
    DAY = "day"
    WEEK = "week"


_PERIODS = {CapPeriod.DAY: timedelta(days=1), CapPeriod.WEEK: timedelta(days=7)}

# Finding codes, stable for programs.
PHRASE_FOUND = "phrase_found"
PATTERN_FOUND = "pattern_found"
PATTERN_TIMEOUT = "pattern_timeout"
DISCLOSURE_MISSING = "disclosure_missing"
LINK_BLOCKED = "link_blocked"
LINK_NOT_ALLOWED = "link_not_allowed"
TOO_MANY_HASHTAGS = "too_many_hashtags"
TOO_MANY_MENTIONS = "too_many_mentions"
HASHTAG_REQUIRED = "hashtag_required"
HASHTAG_FORBIDDEN = "hashtag_forbidden"
QUIET_PERIOD = "quiet_period"
CAP_REACHED = "cap_reached"
PERSONAL_TOUCH_LOW = "personal_touch_low"

# How long one admin pattern may run on one post when a share is decided, and on each probe when saved.
PATTERN_TIMEOUT_SECONDS = 0.1
PROBE_TIMEOUT_SECONDS = 0.05
MAX_QUIET_PERIOD_DAYS = 366
# A rule finding the same thing a thousand times tells the employee nothing more after the first few.
MAX_FINDINGS_PER_RULE = 20


# --- the rules -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Phrases:
    phrases: tuple[str, ...]


@dataclass(frozen=True)
class Pattern:
    pattern: str
    case_sensitive: bool = False


@dataclass(frozen=True)
class Disclosure:
    """How a missing campaign disclosure is acted on (the text itself is the share's)."""


@dataclass(frozen=True)
class Links:
    allowed_domains: tuple[str, ...] = ()
    blocked_domains: tuple[str, ...] = ()


@dataclass(frozen=True)
class Hashtags:
    max_hashtags: int | None = None
    max_mentions: int | None = None
    required_hashtags: tuple[str, ...] = ()
    forbidden_hashtags: tuple[str, ...] = ()


@dataclass(frozen=True)
class QuietPeriod:
    starts_on: date  # both days included, in ``time_zone``
    ends_on: date
    time_zone: str


@dataclass(frozen=True)
class Cap:
    max_shares: int
    period: CapPeriod
    per_network: bool = False


@dataclass(frozen=True)
class PersonalTouch:
    minimum: float  # 0..1, as ShareRequested.personal_touch


Config = Phrases | Pattern | Disclosure | Links | Hashtags | QuietPeriod | Cap | PersonalTouch

KIND_OF: dict[type, RuleKind] = {
    Phrases: RuleKind.PHRASES,
    Pattern: RuleKind.PATTERN,
    Disclosure: RuleKind.DISCLOSURE,
    Links: RuleKind.LINKS,
    Hashtags: RuleKind.HASHTAGS,
    QuietPeriod: RuleKind.QUIET_PERIOD,
    Cap: RuleKind.CAP,
    PersonalTouch: RuleKind.PERSONAL_TOUCH,
}


@dataclass(frozen=True)
class Rule:
    config: Config
    action: Action
    message: str = ""  # shown to the employee; empty: the kind's own words
    network: str | None = None
    campaign_id: str | None = None
    team_id: uuid.UUID | None = None
    id: uuid.UUID | None = None

    @property
    def kind(self) -> RuleKind:
        return KIND_OF[type(self.config)]

    def applies_to(self, network: str, context: Context) -> bool:
        return (
            (self.network is None or self.network == network)
            and (self.campaign_id is None or self.campaign_id == context.campaign_id)
            and (self.team_id is None or self.team_id in context.team_ids)
        )

    def same_scope(self, other: Rule) -> bool:
        return (self.network, self.campaign_id, self.team_id) == (other.network, other.campaign_id, other.team_id)


@dataclass(frozen=True)
class RecentShare:
    """One of the member's earlier shares that policy let through (approved or sent to review)."""

    decided_at: datetime
    network: str


@dataclass(frozen=True)
class Context:
    """What the rules need besides the post: the share's campaign and its disclosure, the personal-touch
    score, the member's teams and time zone, their recent shares (for caps), and the time of judgement."""

    now: datetime
    campaign_id: str | None = None
    required_disclosure: str = ""
    personal_touch: float | None = None
    team_ids: frozenset[uuid.UUID] = frozenset()
    member_time_zone: str | None = None
    recent_shares: tuple[RecentShare, ...] = ()
    # The host of the tracking links; a link to it in the text is the program's own, always allowed.
    tracking_host: str | None = None
    rules: tuple[Rule, ...] = field(default=())


# --- folding and matching --------------------------------------------------------------------------


def fold(text: str) -> tuple[str, list[int]]:
    """``text`` case-folded without its accents, and for each character of the result the index of the
    character of ``text`` it came from (to map a match back to the text as written)."""
    folded: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        for part in unicodedata.normalize("NFD", char.casefold()):
            if unicodedata.category(part) == "Mn":
                continue
            folded.append(part)
            origin.append(index)
    return "".join(folded), origin


def folded(text: str) -> str:
    return fold(text)[0]


_UNSPACED = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}\p{Tibetan}]")
_WORD_CHAR = r"[\p{L}\p{N}\p{M}_]"


def phrase_pattern(phrase: str) -> regex.Pattern[str]:
    """Matches ``phrase`` in a folded text as whole words; any run of spaces stands for any other."""
    words = folded(phrase).split()
    body = r"\s+".join(regex.escape(word) for word in words)
    head = "" if _UNSPACED.match(words[0][0]) else rf"(?<!{_WORD_CHAR})"
    tail = "" if _UNSPACED.match(words[-1][-1]) else rf"(?!{_WORD_CHAR})"
    return regex.compile(head + body + tail)


@dataclass(frozen=True)
class _Text:
    """A post's text with its folded form, for matching and for spans."""

    text: str
    folded: str
    origin: list[int]

    @classmethod
    def of(cls, text: str) -> _Text:
        f, origin = fold(text)
        return cls(text, f, origin)

    def span_of_folded(self, start: int, end: int) -> tuple[int, int]:
        first = self.origin[start]
        last = self.origin[end - 1] + 1
        # Marks written after the last letter belong to it ("garantito" + U+0300).
        while last < len(self.text) and unicodedata.category(self.text[last]) == "Mn":
            last += 1
        return self.utf16(first, last)

    def utf16(self, start: int, end: int) -> tuple[int, int]:
        return utf16_offset(self.text, start), utf16_offset(self.text, end)


_HASHTAG = regex.compile(r"(?<![\p{L}\p{N}\p{M}_&])[#\uff03]([\p{L}\p{M}\p{N}_]+)")
_MENTION = regex.compile(r"(?<![\p{L}\p{N}_@\uff20])[@\uff20]([A-Za-z0-9_]{1,50})")


def hashtags_in(text: str) -> list[tuple[int, int, str]]:
    """(start, end, folded tag without "#"), in code points; a tag of digits alone is not a hashtag."""
    return [(m.start(), m.end(), folded(m.group(1))) for m in _HASHTAG.finditer(text) if not m.group(1).isdigit()]


def mentions_in(text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in _MENTION.finditer(text)]


def _bare(tag: str) -> str:
    return tag.strip().lstrip("#\uff03")


def _tag(value: str) -> str:
    return folded(_bare(value))


def _under(host: str, domain: str) -> bool:
    return host == domain or host.endswith("." + domain)


# --- judging a post --------------------------------------------------------------------------------


def findings(network: str, text: str, context: Context) -> list[Violation]:
    """Every finding of the rules in force (``context.rules``) on a post for ``network``."""
    post = _Text.of(text)
    found: list[Violation] = []
    applicable = [rule for rule in context.rules if rule.applies_to(network, context)]
    for rule in applicable:
        found.extend(_judge(rule, network, post, context)[:MAX_FINDINGS_PER_RULE])
    # A campaign's disclosure is required even where no admin wrote a disclosure rule: then a missing
    # one is refused, the safe default for a paid or employer-related message.
    if context.required_disclosure.strip() and not any(r.kind is RuleKind.DISCLOSURE for r in applicable):
        found.extend(_disclosure(Rule(Disclosure(), Action.REJECT), post, context))
    return found


def _finding(rule: Rule, code: str, default: str, span: tuple[int, int] | None = None, suffix: str = "") -> Violation:
    message = (rule.message or default) + (f" {suffix}" if suffix else "")
    start, end = span if span is not None else (None, None)
    return Violation(code, message, action=rule.action, start=start, end=end, rule_id=rule.id)


def _judge(rule: Rule, network: str, post: _Text, context: Context) -> list[Violation]:
    config = rule.config
    if isinstance(config, Phrases):
        return _phrases(rule, config, post)
    if isinstance(config, Pattern):
        return _pattern(rule, config, post)
    if isinstance(config, Disclosure):
        return _disclosure(rule, post, context)
    if isinstance(config, Links):
        return _links(rule, config, post, context)
    if isinstance(config, Hashtags):
        return _hashtags(rule, config, post)
    if isinstance(config, QuietPeriod):
        return _quiet_period(rule, config, context)
    if isinstance(config, Cap):
        return _cap(rule, config, network, context)
    return _personal_touch(rule, config, context)


def _phrases(rule: Rule, config: Phrases, post: _Text) -> list[Violation]:
    found: list[tuple[int, int, str]] = []
    for phrase in config.phrases:
        for match in phrase_pattern(phrase).finditer(post.folded):
            found.append((match.start(), match.end(), phrase))
    found.sort()
    return [
        _finding(rule, PHRASE_FOUND, f"“{phrase}” is not allowed in a post.", post.span_of_folded(start, end))
        for start, end, phrase in found
    ]


def compile_pattern(config: Pattern) -> regex.Pattern[str]:
    return regex.compile(config.pattern, 0 if config.case_sensitive else regex.IGNORECASE)


def _pattern(rule: Rule, config: Pattern, post: _Text) -> list[Violation]:
    try:
        matches = [
            (m.start(), m.end())
            for m in compile_pattern(config).finditer(post.text, timeout=PATTERN_TIMEOUT_SECONDS)
            if m.end() > m.start()
        ]
    except TimeoutError:
        # Checked when saved, so rare: neither let the post through unread nor refuse it for the
        # rule's fault. A person looks at it (a warning stays a warning).
        action = Action.WARN if rule.action is Action.WARN else Action.REVIEW
        return [
            Violation(
                PATTERN_TIMEOUT,
                "The post could not be checked in time against one of the company's rules; a reviewer will look at it.",
                action=action,
                rule_id=rule.id,
            )
        ]
    return [
        _finding(rule, PATTERN_FOUND, f"“{post.text[s:e]}” is not allowed in a post.", post.utf16(s, e))
        for s, e in matches
    ]


def _disclosure(rule: Rule, post: _Text, context: Context) -> list[Violation]:
    disclosure = context.required_disclosure.strip()
    if not disclosure or not folded(disclosure).split():
        return []
    if phrase_pattern(disclosure).search(post.folded) is not None:
        return []
    return [_finding(rule, DISCLOSURE_MISSING, f"Add “{disclosure}” to the post: the campaign requires it.")]


def _links(rule: Rule, config: Links, post: _Text, context: Context) -> list[Violation]:
    found: list[Violation] = []
    for link in links(post.text):
        if context.tracking_host and _under(link.host, context.tracking_host):
            continue
        span = post.utf16(link.start, link.end)
        if any(_under(link.host, d) for d in config.blocked_domains):
            found.append(_finding(rule, LINK_BLOCKED, f"Links to {link.host} are not allowed.", span))
        elif config.allowed_domains and not any(_under(link.host, d) for d in config.allowed_domains):
            allowed = ", ".join(config.allowed_domains)
            found.append(
                _finding(rule, LINK_NOT_ALLOWED, f"Links to {link.host} are not allowed; link to {allowed}.", span)
            )
    return found


def _hashtags(rule: Rule, config: Hashtags, post: _Text) -> list[Violation]:
    found: list[Violation] = []
    tags = hashtags_in(post.text)
    if config.max_hashtags is not None and len(tags) > config.max_hashtags:
        default = f"At most {config.max_hashtags} hashtags; the post has {len(tags)}."
        found.extend(
            _finding(rule, TOO_MANY_HASHTAGS, default, post.utf16(s, e)) for s, e, _ in tags[config.max_hashtags :]
        )
    mentions = mentions_in(post.text)
    if config.max_mentions is not None and len(mentions) > config.max_mentions:
        default = f"At most {config.max_mentions} mentions; the post has {len(mentions)}."
        found.extend(
            _finding(rule, TOO_MANY_MENTIONS, default, post.utf16(s, e)) for s, e in mentions[config.max_mentions :]
        )
    present = {tag for _, _, tag in tags}
    for required in config.required_hashtags:
        if _tag(required) not in present:
            found.append(_finding(rule, HASHTAG_REQUIRED, f"Add #{_bare(required)} to the post."))
    forbidden = {_tag(tag) for tag in config.forbidden_hashtags}
    found.extend(
        _finding(rule, HASHTAG_FORBIDDEN, f"{post.text[s:e]} is not allowed in a post.", post.utf16(s, e))
        for s, e, tag in tags
        if tag in forbidden
    )
    return found


def _quiet_period(rule: Rule, config: QuietPeriod, context: Context) -> list[Violation]:
    today = context.now.astimezone(ZoneInfo(config.time_zone)).date()
    if not config.starts_on <= today <= config.ends_on:
        return []
    default = f"Quiet period: no sharing from {config.starts_on:%d %b %Y} to {config.ends_on:%d %b %Y}."
    return [_finding(rule, QUIET_PERIOD, default)]


def next_share_time(times: Sequence[datetime], limit: int, period: timedelta, now: datetime) -> datetime | None:
    """When a member who shared at ``times`` may share again under "at most ``limit`` in any ``period``"
    (a rolling window): None when they may now."""
    window = sorted(t for t in times if now - period < t <= now)
    if len(window) < limit:
        return None
    # The window must lose len(window) - limit + 1 shares: the oldest of those leaves it last.
    return window[len(window) - limit] + period


def _cap(rule: Rule, config: Cap, network: str, context: Context) -> list[Violation]:
    times = [s.decided_at for s in context.recent_shares if not config.per_network or s.network == network]
    period = _PERIODS[config.period]
    again = next_share_time(times, config.max_shares, period, context.now)
    if again is None:
        return []
    zone = _zone(context.member_time_zone)
    local = again.astimezone(zone)
    where = f" on {network}" if config.per_network else ""
    span_words = "24 hours" if config.period is CapPeriod.DAY else "7 days"
    default = f"You can share at most {config.max_shares} times{where} in {span_words}."
    suffix = f"You can share again from {local:%d %b %Y %H:%M} ({zone.key})."
    return [_finding(rule, CAP_REACHED, default, suffix=suffix)]


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return ZoneInfo("UTC")


def _personal_touch(rule: Rule, config: PersonalTouch, context: Context) -> list[Violation]:
    score = context.personal_touch
    if score is None or score >= config.minimum:
        return []
    default = f"Only {score:.0%} of the post is in your own words; make at least {config.minimum:.0%} your own."
    return [_finding(rule, PERSONAL_TOUCH_LOW, default)]


# --- refusing a rule when it is saved --------------------------------------------------------------

# Ordinary posts in the languages customers write: a blocking rule that meets every one of them would
# stop every share (issue item 16).
PROBE_POSTS = (
    "Proud of what our team shipped this quarter.",
    "Orgogliosi del lavoro della nostra squadra!",
    "Wir freuen uns über das Ergebnis.",
    "Nous sommes fiers de notre équipe.",
    "¡Qué buen trimestre para todos!",
    "我们为团队感到骄傲。",
    "チームを誇りに思います",
    "Мы гордимся нашей командой.",
    "نحن فخورون بفريقنا",
    "🎉",
    "ok",
)


@dataclass(frozen=True)
class Refusal:
    loc: tuple[str | int, ...]  # where in the rule, as the API names the fields
    message: str


def _letters(text: str) -> int:
    return sum(1 for char in text if unicodedata.category(char)[0] in "LN")


def _phrase_refusals(config: Phrases, action: Action) -> list[Refusal]:
    refusals: list[Refusal] = []
    if not config.phrases:
        refusals.append(Refusal(("phrases",), "give at least one phrase"))
    for index, phrase in enumerate(config.phrases):
        words = folded(phrase).split()
        loc = ("phrases", index)
        if not words:
            refusals.append(Refusal(loc, "the phrase is empty: it would match everywhere"))
        elif _letters("".join(words)) == 0:
            refusals.append(Refusal(loc, "the phrase has no letter or digit: it would match punctuation anywhere"))
        elif len("".join(words)) == 1 and not _UNSPACED.match(words[0]):
            refusals.append(Refusal(loc, "a phrase of a single letter or digit would block almost every post"))
        elif action is not Action.WARN and all(phrase_pattern(phrase).search(folded(p)) for p in PROBE_POSTS):
            refusals.append(Refusal(loc, "the phrase matches every ordinary post: it would block everything"))
    return refusals


def _probes_for(pattern: str) -> list[str]:
    """Texts that make a backtracking pattern slow: long runs of its own literal characters, of letters,
    digits and spaces, each left unfinished."""
    own = "".join(dict.fromkeys(ch for ch in pattern if ch.isalnum())) or "a"
    runs = [own * (2000 // len(own)), "a" * 2000, "x" * 2000, "1" * 2000, " " * 2000, "aA1 _-.,:/" * 200]
    return [run + tail for run in runs for tail in ("", "!", "\u2603")]


def _pattern_refusals(config: Pattern, action: Action) -> list[Refusal]:
    loc = ("pattern",)
    if not config.pattern.strip():
        return [Refusal(loc, "the pattern is empty: it would match everywhere")]
    try:
        compiled = compile_pattern(config)
    except regex.error as exc:
        return [Refusal(loc, f"the pattern does not compile: {exc}")]
    except (RecursionError, OverflowError, ValueError):
        return [Refusal(loc, "the pattern does not compile: it is nested too deeply or too large")]
    if compiled.search("") is not None:
        return [Refusal(loc, "the pattern matches the empty text: it would match every post")]
    try:
        for probe in _probes_for(config.pattern):
            compiled.search(probe, timeout=PROBE_TIMEOUT_SECONDS)
        every = all(compiled.search(p, timeout=PROBE_TIMEOUT_SECONDS) for p in PROBE_POSTS)
    except TimeoutError:
        return [
            Refusal(
                loc,
                f"the pattern runs too long (over {PROBE_TIMEOUT_SECONDS * 1000:.0f} ms on a test text): "
                "rewrite it without nested repetition",
            )
        ]
    if every and action is not Action.WARN:
        return [Refusal(loc, "the pattern matches every ordinary post: it would block everything")]
    return []


_DOMAIN = regex.compile(r"^(?:[\p{L}\p{N}](?:[\p{L}\p{N}-]{0,61}[\p{L}\p{N}])?\.)+[\p{L}\p{N}-]{2,63}$")


def _links_refusals(config: Links) -> list[Refusal]:
    refusals: list[Refusal] = []
    if not config.allowed_domains and not config.blocked_domains:
        refusals.append(Refusal(("allowed_domains",), "give allowed or blocked domains: this rule checks nothing"))
    for name, domains in (("allowed_domains", config.allowed_domains), ("blocked_domains", config.blocked_domains)):
        for index, domain in enumerate(domains):
            if not _DOMAIN.match(domain):
                refusals.append(
                    Refusal((name, index), f"{domain[:64]!r} is not a domain (write acme.example, no scheme)")
                )
    overlap = set(config.allowed_domains) & set(config.blocked_domains)
    if overlap:
        refusals.append(Refusal(("blocked_domains",), f"both allowed and blocked: {', '.join(sorted(overlap))}"))
    return refusals


def _hashtag_refusals(config: Hashtags) -> list[Refusal]:
    refusals: list[Refusal] = []
    if (
        config.max_hashtags is None
        and config.max_mentions is None
        and not config.required_hashtags
        and not config.forbidden_hashtags
    ):
        refusals.append(
            Refusal(("max_hashtags",), "give a maximum, or required or forbidden hashtags: this rule checks nothing")
        )
    for name, tags in (
        ("required_hashtags", config.required_hashtags),
        ("forbidden_hashtags", config.forbidden_hashtags),
    ):
        for index, tag in enumerate(tags):
            bare = _bare(tag)
            if regex.fullmatch(r"[\p{L}\p{M}\p{N}_]+", bare) is None or bare.isdigit():
                refusals.append(Refusal((name, index), f"{tag[:64]!r} is not a hashtag (letters, digits and _)"))
    both = {_tag(t) for t in config.required_hashtags} & {_tag(t) for t in config.forbidden_hashtags}
    if both:
        refusals.append(Refusal(("forbidden_hashtags",), f"both required and forbidden: {', '.join(sorted(both))}"))
    if (
        config.required_hashtags
        and config.max_hashtags is not None
        and len(config.required_hashtags) > config.max_hashtags
    ):
        refusals.append(Refusal(("max_hashtags",), "fewer hashtags allowed than required: every post would be blocked"))
    return refusals


def _quiet_refusals(rule: Rule, config: QuietPeriod, others: Iterable[Rule]) -> list[Refusal]:
    try:
        ZoneInfo(config.time_zone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return [Refusal(("time_zone",), f"{config.time_zone[:64]!r} is not an IANA time zone (e.g. Europe/Rome)")]
    if config.ends_on < config.starts_on:
        return [Refusal(("ends_on",), "the period ends before it starts")]
    if (config.ends_on - config.starts_on).days + 1 > MAX_QUIET_PERIOD_DAYS:
        return [
            Refusal(("ends_on",), f"a quiet period of more than {MAX_QUIET_PERIOD_DAYS} days would block everything")
        ]
    for other in others:
        if other.id == rule.id or not isinstance(other.config, QuietPeriod) or not rule.same_scope(other):
            continue
        if other.config.starts_on <= config.ends_on and config.starts_on <= other.config.ends_on:
            period = f"{other.config.starts_on.isoformat()} to {other.config.ends_on.isoformat()}"
            return [
                Refusal(("starts_on",), f"overlaps the quiet period {period} ({other.id}); change that one instead")
            ]
    return []


def refusals(rule: Rule, others: Iterable[Rule] = ()) -> list[Refusal]:
    """Why ``rule`` cannot be saved beside ``others`` (the org's other rules): empty when it can."""
    config = rule.config
    if isinstance(config, Phrases):
        return _phrase_refusals(config, rule.action)
    if isinstance(config, Pattern):
        return _pattern_refusals(config, rule.action)
    if isinstance(config, Links):
        return _links_refusals(config)
    if isinstance(config, Hashtags):
        return _hashtag_refusals(config)
    if isinstance(config, QuietPeriod):
        return _quiet_refusals(rule, config, others)
    if isinstance(config, Cap):
        if config.max_shares < 1:
            return [Refusal(("max_shares",), "at most 0 shares would block everything; allow at least 1")]
        return []
    if isinstance(config, PersonalTouch):
        if not 0 < config.minimum <= 1:
            return [Refusal(("minimum_personal_touch",), "the minimum is a share of the post, above 0 and at most 1")]
        return []
    return []
