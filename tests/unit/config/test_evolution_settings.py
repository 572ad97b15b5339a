"""ZAPGATE_EVOLUTION_PREFIX is a plain path outside zapgate's own, or empty."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from zapgate.config import Settings


def test_prefix_is_normalized_and_may_be_empty() -> None:
    assert Settings(_env_file=None).evolution_prefix == "/evolution"
    assert Settings(_env_file=None, evolution_prefix="evo/").evolution_prefix == "/evo"
    assert Settings(_env_file=None, evolution_prefix="").evolution_prefix == ""


@pytest.mark.parametrize("prefix", ["/api/v1", "/app", "/static/x", "/a b", "/{x}"])
def test_prefix_cannot_shadow_zapgate(prefix: str) -> None:
    with pytest.raises(ValidationError):
        Settings(_env_file=None, evolution_prefix=prefix)
