"""Which stored device a connection's JID names in the shared device store."""

from __future__ import annotations

import pytest

from zapgate.engines.neonize.shared_store import same_device


@pytest.mark.parametrize(
    ("stored", "wanted", "same"),
    [
        ("5511999990001:12@s.whatsapp.net", "5511999990001:12@s.whatsapp.net", True),
        ("5511999990001:12@s.whatsapp.net", "5511999990001@s.whatsapp.net", True),
        ("5511999990001:12@s.whatsapp.net", "5511999990001:13@s.whatsapp.net", False),
        ("5511999990001:12@s.whatsapp.net", "551199999000:12@s.whatsapp.net", False),
        ("5511999990001:12@s.whatsapp.net", "5511999990001@lid", False),
        ("5511999990001.1:12@s.whatsapp.net", "5511999990001@s.whatsapp.net", True),
    ],
)
def test_a_jid_names_its_own_account_s_device_only(stored: str, wanted: str, same: bool) -> None:
    assert same_device(stored, wanted) is same
