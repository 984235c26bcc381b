"""The policy rules: pure functions of a post, no I/O, so the live check while the employee types and the
authoritative decision on a submitted share can never disagree.

Three kinds of rules decide: the post's own (its network, its length, here), the member's standing
(the policy they must have accepted, the certifications they must hold; ``governance.py``), which the
caller loads and passes in as a ``Standing``, and the compliance rules the org's admins configure
(phrases, patterns, disclosure, links, hashtags, quiet periods, caps, personal touch; ``compliance.py``),
which the caller loads and passes in with the share's context as a ``compliance.Context``.

Every finding is a ``Violation`` with an action: the built-in rules and the standing always reject; an
admin's rule rejects, sends to review or only warns. The decision (``outcome_of``): any reject, rejected;
else any review, needs review; warnings never block.

The networks, their limits and how each counts length come from the one table in ``condividi/networks.py``
(which sharing reads too, so a network it cannot share to is refused here as well); the counting itself
(X by twitter-text's published rules, Bluesky by Unicode graphemes) lives in ``counting.py``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from condividi import networks
from condividi.networks import Counting
from services.policy import counting

if TYPE_CHECKING:  # governance and compliance import Violation from here
    from services.policy.compliance import Context
    from services.policy.governance import Standing


class Outcome(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"
    # A compliance rule whose action is "review" met the post: a person decides.
    NEEDS_REVIEW = "needs_review"


class Action(StrEnum):
    """What a finding does to the decision."""

    REJECT = "reject"
    REVIEW = "review"
    WARN = "warn"  # shown to the employee, never blocks


TOO_LONG = "too_long"
UNSUPPORTED_NETWORK = "unsupported_network"
EMPTY_TEXT = "empty_text"

X_URL_LENGTH = counting.X_URL_LENGTH


@dataclass(frozen=True)
class Violation:
    """One finding: what a rule met in the post, and what it does to the decision."""

    code: str  # stable, for programs
    message: str  # ready to show to the employee
    action: Action = Action.REJECT
    # Where in the text, in UTF-16 code units (what JavaScript indexes strings by), end excluded; None
    # when the finding is about the post as a whole (a quiet period, a missing disclosure).
    start: int | None = None
    end: int | None = None
    rule_id: uuid.UUID | None = None  # the admin's rule that found it; None for the built-in rules

    @property
    def blocking(self) -> bool:
        return self.action is not Action.WARN


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    findings: list[Violation]  # every finding, warnings included
    length: int
    limit: int  # 0 when the network is not supported

    @property
    def violations(self) -> list[Violation]:
        """The findings that stop or hold the share (rejects and reviews)."""
        return [f for f in self.findings if f.blocking]


def measure(network: str, text: str, url: str | None = None) -> int:
    """The length ``network`` counts for ``text`` with ``url`` appended after one space (the way shares
    are posted); an unknown network is counted in code points."""
    known = networks.find(network)
    how = known.counting if known else Counting.CODE_POINTS
    if how is Counting.X_WEIGHTED:
        return _x_length(text, url)
    body = f"{text} {url}" if url else text
    if how is Counting.GRAPHEMES:
        return counting.grapheme_length(body)
    return len(body)


def _x_length(text: str, url: str | None) -> int:
    length = counting.x_weighted_length(text)
    return length + 1 + X_URL_LENGTH if url else length


def evaluate(
    network: str,
    text: str,
    url: str | None = None,
    standing: Standing | None = None,
    context: Context | None = None,
) -> list[Violation]:
    """Every finding on the post: what the member must do first (accept the policy, get certified), what
    is wrong with the post itself, then what the org's compliance rules in ``context`` met.
    ``standing`` None: the member's side is not judged; ``context`` None: no compliance rule is."""
    from services.policy import compliance  # compliance imports Violation from this module

    member = standing.violations(network) if standing is not None else []
    post = _post_violations(network, text, url)
    # A post that cannot be shared at all (unknown network, empty) is not judged further.
    if context is None or any(v.code in (UNSUPPORTED_NETWORK, EMPTY_TEXT) for v in post):
        return member + post
    return member + post + compliance.findings(network, text, context)


def _post_violations(network: str, text: str, url: str | None) -> list[Violation]:
    known = networks.find(network)
    if known is None:
        supported = ", ".join(networks.supported_names())
        return [
            Violation(
                UNSUPPORTED_NETWORK,
                f"Sharing to {network[:32]!r} is not supported; supported networks: {supported}.",
            )
        ]
    # Sharing refuses a blank text outright; the live check says so too, as the empty box's state.
    if not text.strip():
        return [Violation(EMPTY_TEXT, "The post is empty: write it in your own words.")]
    length = measure(network, text, url)
    if length > known.max_length:
        with_link = " with the link" if url else ""
        limit = f"{known.display_name} allows {known.max_length}"
        return [Violation(TOO_LONG, f"The post is {length} characters{with_link}; {limit}.")]
    return []


def outcome_of(violations: list[Violation]) -> Outcome:
    """Any reject: rejected; else any review: needs review; warnings never block."""
    actions = {v.action for v in violations}
    if Action.REJECT in actions:
        return Outcome.REJECTED
    if Action.REVIEW in actions:
        return Outcome.NEEDS_REVIEW
    return Outcome.APPROVED


def check(
    network: str,
    text: str,
    url: str | None = None,
    standing: Standing | None = None,
    context: Context | None = None,
) -> Verdict:
    """Everything the live check shows: the outcome, every finding, and the length against the limit."""
    findings = evaluate(network, text, url, standing, context)
    known = networks.find(network)
    return Verdict(
        outcome=outcome_of(findings),
        findings=findings,
        length=measure(network, text, url),
        limit=known.max_length if known else 0,
    )
