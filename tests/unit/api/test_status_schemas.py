"""The API documents chat and delivery statuses in place, each value listed, and lists
every status the domain has."""

from __future__ import annotations

from pydantic import TypeAdapter

from zapgate.api.schemas_events import DeliveryStatusIn
from zapgate.api.schemas_messages import ChatUpdate
from zapgate.domain.chats import ChatStatus
from zapgate.domain.deliveries import DeliveryStatus


def test_a_chat_update_lists_every_chat_status() -> None:
    status = ChatUpdate.model_json_schema()["properties"]["status"]
    assert status["anyOf"][0] == {"enum": [s.value for s in ChatStatus], "type": "string"}


def test_the_delivery_log_filter_lists_every_delivery_status() -> None:
    schema = TypeAdapter(DeliveryStatusIn).json_schema()
    assert schema == {"enum": [s.value for s in DeliveryStatus], "type": "string"}


def test_a_status_given_as_text_arrives_as_the_domain_status() -> None:
    assert ChatUpdate.model_validate({"status": "closed"}).status is ChatStatus.CLOSED
    assert TypeAdapter(DeliveryStatusIn).validate_python("failed") is DeliveryStatus.FAILED
