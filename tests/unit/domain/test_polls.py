"""Polls: what a poll may hold, options chosen by name or by hash, votes replacing votes."""

from __future__ import annotations

import hashlib

import pytest

from zapgate.domain.errors import Invalid
from zapgate.domain.polls import (
    Poll,
    checked_poll,
    chosen_options,
    option_hash,
    poll_payload,
    with_vote,
)


def test_a_poll_is_trimmed_and_bounded() -> None:
    assert checked_poll(" Size? ", [" S", "M "], True) == Poll("Size?", ("S", "M"), True)
    for question, options, code in [
        ("", ["a", "b"], "invalid_poll_question"),
        ("q" * 256, ["a", "b"], "invalid_poll_question"),
        ("Q", ["a"], "invalid_poll_options"),
        ("Q", [str(i) for i in range(13)], "invalid_poll_options"),
        ("Q", ["a", ""], "invalid_poll_option"),
        ("Q", ["a", "x" * 101], "invalid_poll_option"),
        ("Q", ["a", " a"], "duplicate_poll_options"),
    ]:
        with pytest.raises(Invalid) as caught:
            checked_poll(question, options, False)
        assert caught.value.code == code
    assert len(checked_poll("Q", [str(i) for i in range(12)], False).options) == 12


def test_an_option_is_named_by_the_sha256_of_its_text() -> None:
    assert option_hash("Sim") == hashlib.sha256(b"Sim").hexdigest()
    poll = poll_payload(Poll("Q", ("S", "M", "L"), multiple=True))
    picked = chosen_options(poll, hashes=[option_hash("L").upper(), option_hash("S"), "00" * 32])
    assert picked == ["S", "L"]  # the poll's order; an unknown hash is left out
    assert chosen_options(poll, names=["M", "XL"]) == ["M"]
    single = poll_payload(Poll("Q", ("S", "M"), multiple=False))
    assert chosen_options(single, names=["S", "M"]) == ["S"]


def test_a_new_vote_replaces_the_voters_old_one_and_an_empty_one_withdraws_it() -> None:
    poll = poll_payload(Poll("Q", ("S", "M"), multiple=False))
    ana = {"key": "1@s.whatsapp.net", "jid": "9@lid", "phone": "1", "voted_at": "t1"}
    bia = {"key": "2@s.whatsapp.net", "jid": "2@s.whatsapp.net", "phone": "2", "voted_at": "t1"}
    poll, before = with_vote(poll, ana, ["S"])
    assert before == []
    poll, _ = with_vote(poll, bia, ["S"])
    assert poll["tally"] == {"S": 2, "M": 0}
    poll, before = with_vote(poll, {**ana, "jid": "1@s.whatsapp.net"}, ["M"])
    assert before == ["S"]
    assert poll["tally"] == {"S": 1, "M": 1}
    assert [v["phone"] for v in poll["voters"]] == ["2", "1"]
    poll, before = with_vote(poll, bia, [])
    assert (before, poll["tally"]) == (["S"], {"S": 0, "M": 1})
