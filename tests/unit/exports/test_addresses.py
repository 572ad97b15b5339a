"""Broker URLs: checked by kind, their password masked; the routing key layout; the
batch size."""

from __future__ import annotations

import pytest

from zapgate.exports.addresses import parse_broker_url, routing_key
from zapgate.exports.publishing import EXPORT_BATCH
from zapgate.util.urls import masked
from zapgate.webhooks.urls import UrlRefused
from zapgate.webhooks.worker import DeliveryPolicy


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("amqp://guest:guest@127.0.0.1:5672/", "amqp://guest:***@127.0.0.1:5672/"),
        ("amqps://u:p%40ss@mq.example.com/vh", "amqps://u:***@mq.example.com/vh"),
        ("nats://tok:s3cr3t@nats.example.com:4222", "nats://tok:***@nats.example.com:4222"),
        ("nats://127.0.0.1:4222", "nats://127.0.0.1:4222"),
        # A lone user is NATS's token: the credential itself.
        ("nats://s3cr3t-token@127.0.0.1:4222", "nats://***@127.0.0.1:4222"),
        ("amqp://:p4ss@mq/", "amqp://:***@mq/"),
        ("amqp://u:@mq/", "amqp://u:***@mq/"),
        ("amqp://@mq/", "amqp://@mq/"),
        ("amqp://u:p@ss@mq/", "amqp://u:***@mq/"),
    ],
)
def test_the_password_is_masked(url: str, shown: str) -> None:
    assert masked(url) == shown


def test_each_kind_takes_its_own_schemes() -> None:
    assert parse_broker_url("rabbitmq", "amqp://h") == ("h", 5672)
    assert parse_broker_url("rabbitmq", "amqps://h") == ("h", 5671)
    assert parse_broker_url("nats", "nats://h:4333") == ("h", 4333)
    for kind, url in [("rabbitmq", "nats://h"), ("nats", "amqp://h"), ("nats", "http://h")]:
        with pytest.raises(UrlRefused) as refused:
            parse_broker_url(kind, url)
        assert refused.value.code == "invalid_url"
    with pytest.raises(UrlRefused) as refused:
        parse_broker_url("nats", "nats://:4222")
    assert refused.value.code == "invalid_url"


def test_routing_key_names_organization_connection_and_type() -> None:
    assert routing_key("zapgate", "org", "con", "message.received") == (
        "zapgate.org.con.message.received"
    )
    assert routing_key("a.b", "org", None, "webhook.disabled") == "a.b.org.none.webhook.disabled"


def test_an_export_batch_is_recorded_in_one_write() -> None:
    # The ordered worker claims the next batch once this one's outcomes are committed:
    # a batch larger than a recorder group waits for a second, delayed write.
    assert DeliveryPolicy().batch >= EXPORT_BATCH
