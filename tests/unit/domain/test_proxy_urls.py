"""Proxy URLs: which are accepted, how they are masked and shown."""

from __future__ import annotations

import pytest

from zapgate.domain.behaviour import (
    check_proxy_url,
    mask_proxy_url,
    proxy_display,
)
from zapgate.domain.errors import Invalid


@pytest.mark.parametrize(
    "url",
    [
        "http://proxy.example:3128",
        "https://proxy.example",
        "socks5://u:p@10.0.0.1:1080",
        "SOCKS5://u%40x:p%3Aw@[::1]:1080/",
    ],
)
def test_good_urls_are_accepted(url: str) -> None:
    assert check_proxy_url(f"  {url} ") == url


@pytest.mark.parametrize(
    "url",
    [
        "",
        "ftp://h:21",
        "socks4://h:1080",
        "http://",
        "http://h:0",
        "http://h:70000",
        "http://h:8080/x",
        "http://h:8080?a=1",
        "http://h:8080#f",
        "http://:pw@h:8080",
        "http://h :8080",
        "h:8080",
        "http://h\x00:1",
        "http://" + "a" * 2100,
    ],
)
def test_bad_urls_are_invalid_proxy_url(url: str) -> None:
    with pytest.raises(Invalid) as caught:
        check_proxy_url(url)
    assert caught.value.code == "invalid_proxy_url"


def test_the_password_is_masked_and_never_shown() -> None:
    url = "socks5://joao:s3cr%40t@proxy.example:1080"
    assert mask_proxy_url(url) == "socks5://joao:***@proxy.example:1080"
    assert mask_proxy_url("http://proxy.example:3128") == "http://proxy.example:3128"
    assert mask_proxy_url(None) is None
    assert proxy_display(url) == "socks5://proxy.example:1080"
