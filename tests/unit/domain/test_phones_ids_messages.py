from __future__ import annotations

import time
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zapgate.domain.errors import Invalid
from zapgate.domain.ids import is_id, new_id
from zapgate.domain.messages import MessageStatus
from zapgate.domain.phones import (
    account_jid,
    normalize_phone,
    normalize_recipient,
    phone_of_jid,
    user_jid,
)


@pytest.mark.parametrize(
    "raw",
    [
        "+55 (11) 99999-0001",
        "5511999990001",
        "5511999990001@s.whatsapp.net",
        "5511999990001:12@s.whatsapp.net",
        "005511999990001",
        " +55.11.99999.0001 ",
        "5511999990001@c.us",
    ],
)
def test_common_forms_normalize(raw: str) -> None:
    assert normalize_phone(raw) == "5511999990001"


@pytest.mark.parametrize(
    "raw", ["", "   ", "abc", "+55 11 9999x0001", "0123456789", "123", "1" * 16, "x@g.us"]
)
def test_malformed_numbers_are_invalid(raw: str) -> None:
    with pytest.raises(Invalid) as err:
        normalize_phone(raw)
    assert err.value.code == "invalid_phone"
    assert err.value.status == 422


def test_recipients() -> None:
    assert normalize_recipient("120363012345678901@g.us") == "120363012345678901@g.us"
    assert normalize_recipient("+55 11 99999-0001") == "5511999990001@s.whatsapp.net"
    assert user_jid("5511999990001") == "5511999990001@s.whatsapp.net"
    assert phone_of_jid("5511999990001:3@s.whatsapp.net") == "5511999990001"
    assert phone_of_jid("123@lid") is None
    with pytest.raises(Invalid) as err:
        normalize_recipient("abc@g.us")
    assert err.value.code == "invalid_jid"


@given(st.from_regex(r"[1-9][0-9]{6,14}", fullmatch=True))
def test_normalization_is_idempotent(digits: str) -> None:
    assert normalize_phone(normalize_phone(digits)) == digits
    assert normalize_phone(user_jid(digits)) == digits


def test_ids_are_time_ordered_and_unique() -> None:
    ids = [new_id() for _ in range(5000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert all(is_id(i) for i in ids[:10])
    assert not is_id("not-an-id")


def test_ids_are_rfc_9562_version_7_with_the_time_in_front() -> None:
    before = time.time_ns() // 1_000_000
    ids = [new_id() for _ in range(600)]  # past one read of random bytes (512 ids)
    after = time.time_ns() // 1_000_000
    for value in ids:
        parsed = uuid.UUID(value)
        assert (parsed.version, parsed.variant, str(parsed)) == (7, uuid.RFC_4122, value)
        assert before <= parsed.int >> 80 <= after + 1
    assert len({value[-12:] for value in ids}) == len(ids)  # random tails differ


def test_ack_and_progress() -> None:
    assert [MessageStatus(s).ack for s in ("failed", "queued", "sending", "sent")] == [0, 1, 1, 2]
    assert MessageStatus.DELIVERED.ack == 3
    assert MessageStatus.PLAYED.ack == 5
    assert MessageStatus.SENT.advances_to(MessageStatus.READ)
    assert not MessageStatus.READ.advances_to(MessageStatus.DELIVERED)
    assert not MessageStatus.FAILED.advances_to(MessageStatus.SENT)


def test_account_jid_leaves_the_device_out() -> None:
    assert account_jid("5511999990001:12@s.whatsapp.net") == "5511999990001@s.whatsapp.net"
    assert account_jid("123456789:4@lid") == "123456789@lid"
    assert account_jid("5511999990001@s.whatsapp.net") == "5511999990001@s.whatsapp.net"
