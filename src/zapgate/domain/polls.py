"""Polls: what a poll may hold, and how votes become a tally.

WhatsApp carries a poll as a question and 2 to 12 options; a vote names the options it
picks by the SHA-256 of their text (that is how a real engine hands them over), and a
later vote of the same person replaces their earlier one (an empty vote withdraws it).
Pure functions over the poll as the message payload keeps it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from zapgate.domain.errors import Invalid

MIN_OPTIONS = 2
MAX_OPTIONS = 12
"""WhatsApp's own bounds: its apps refuse a poll outside them."""
MAX_QUESTION = 255
MAX_OPTION = 100
"""The lengths WhatsApp's apps let a person type."""


@dataclass(frozen=True, slots=True)
class Poll:
    question: str
    options: tuple[str, ...]
    multiple: bool = False
    """True: a voter may pick several options; False: one."""

    def to_json(self) -> dict[str, Any]:
        return {"question": self.question, "options": list(self.options), "multiple": self.multiple}


def checked_poll(question: str, options: Sequence[str], multiple: bool) -> Poll:
    """The poll a sender asked for, trimmed; 422 with a code naming what is wrong."""
    question = question.strip()
    if not question or len(question) > MAX_QUESTION:
        raise Invalid(
            f"poll.question must have 1 to {MAX_QUESTION} characters",
            code="invalid_poll_question",
        )
    trimmed = tuple(option.strip() for option in options)
    if not MIN_OPTIONS <= len(trimmed) <= MAX_OPTIONS:
        raise Invalid(
            f"a poll has {MIN_OPTIONS} to {MAX_OPTIONS} options, not {len(trimmed)}",
            code="invalid_poll_options",
        )
    for option in trimmed:
        if not option or len(option) > MAX_OPTION:
            raise Invalid(
                f"each poll option must have 1 to {MAX_OPTION} characters",
                code="invalid_poll_option",
            )
    if len(set(trimmed)) != len(trimmed):
        raise Invalid(
            "poll options must be different from each other", code="duplicate_poll_options"
        )
    return Poll(question, trimmed, multiple)


def option_hash(option: str) -> str:
    """How a WhatsApp vote names an option: the hex SHA-256 of its text."""
    return hashlib.sha256(option.encode()).hexdigest()


def chosen_options(
    poll: dict[str, Any], names: Iterable[str] = (), hashes: Iterable[str] = ()
) -> list[str]:
    """The poll's options a vote picks, in the poll's order; names or hashes that are
    not among its options are left out (a vote for an option we never saw)."""
    wanted = set(names)
    by_hash = {h.lower() for h in hashes}
    picked = [o for o in poll.get("options", []) if o in wanted or option_hash(o) in by_hash]
    if not poll.get("multiple") and len(picked) > 1:
        # A single-choice poll counts one option per voter, whatever a client sent.
        picked = picked[:1]
    return picked


def with_vote(
    poll: dict[str, Any], voter: dict[str, Any], options: list[str]
) -> tuple[dict[str, Any], list[str]]:
    """``poll`` with ``voter``'s vote in place of any earlier one (none when ``options``
    is empty), its tally recounted; and the options that voter had picked before.

    ``voter`` holds ``key`` (the phone JID when known, else the JID it voted with),
    ``jid``, ``phone``, ``lid``, ``name`` and ``voted_at``.
    """
    before: list[str] = []
    voters: list[dict[str, Any]] = []
    for entry in poll.get("voters", []):
        if _key(entry) == voter["key"]:
            before = list(entry.get("options", []))
        else:
            voters.append(entry)
    if options:
        voters.append({**voter, "options": options})
    updated = {**poll, "voters": voters, "tally": tally(poll.get("options", []), voters)}
    return updated, before


def tally(options: Sequence[str], voters: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Option → how many voters picked it (every option, zero included)."""
    counts = dict.fromkeys(options, 0)
    for entry in voters:
        for option in entry.get("options", []):
            if option in counts:
                counts[option] += 1
    return counts


def _key(entry: dict[str, Any]) -> str:
    return str(entry.get("key") or entry.get("jid"))


def poll_payload(poll: Poll) -> dict[str, Any]:
    """What a new poll message keeps in its payload: the poll with an empty tally."""
    return {**poll.to_json(), "tally": tally(poll.options, ()), "voters": []}
