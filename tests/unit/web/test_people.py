"""Phones for humans and connection colours."""

from __future__ import annotations

import pytest

from zapgate.web.people import PALETTE, colour_slot, colour_slots, human_phone


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("5511999990001", "+55 11 99999-0001"),
        ("551133334444", "+55 11 3333-4444"),
        ("5511999990001@s.whatsapp.net", "+55 11 99999-0001"),
        ("14155550100", "+1 415 555 0100"),
        ("447700900123", "+447700900123"),
        ("", ""),
        (None, ""),
    ],
)
def test_phones_are_grouped_as_people_write_them(raw: str | None, shown: str) -> None:
    assert human_phone(raw) == shown


def test_up_to_a_palette_of_numbers_never_share_a_colour_and_keep_theirs() -> None:
    ids = [f"conn-{i:03d}" for i in range(PALETTE)]
    slots = colour_slots(ids)
    assert sorted(slots.values()) == list(range(PALETTE))
    # A newer number does not move the colours of the older ones.
    assert {k: v for k, v in colour_slots([*ids[:3], "zzz-new"]).items() if k in ids} == {
        k: slots[k] for k in ids[:3]
    }
    assert colour_slots([ids[0]])[ids[0]] == colour_slot(ids[0])
