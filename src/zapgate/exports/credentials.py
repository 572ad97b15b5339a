"""An export's broker credentials: sealed in its row, shown nowhere.

A broker URL carries them in its user part (``amqp://user:password@host``; NATS also
takes a lone token, ``nats://token@host``). The row keeps the URL in two halves:

- ``url``: the URL with them masked (``amqp://user:***@host/vhost``,
  ``nats://***@host``), the only form anything shows: API answers, the panel, the
  ``webhook.disabled`` event, logs. Every reader of the column is safe by construction.
- ``secret`` (where webhooks keep their signing secret; exports sign nothing): the
  user part sealed by ``util.secretbox`` for ``export:<id>``, or empty when the URL has
  none.

The transport joins them just before it connects (``reveal``). The user part alone is
sealed, not the whole URL, because ``secret`` is 200 characters wide: that leaves
``MAX_USERINFO`` characters for user and password, plenty for real ones.

Rows saved before encryption (the first release of exports) have the whole URL in
``url`` and an empty ``secret``: they are read as they are, and sealed at the next
start (``services.exports.ExportService.seal_stored``).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from zapgate.domain.errors import Invalid
from zapgate.util.secretbox import SecretBox
from zapgate.util.urls import masked, userinfo
from zapgate.webhooks.urls import MAX_URL_LENGTH, UrlRefused

SECRET_WIDTH = 200
"""``webhooks.secret`` is a VARCHAR(200)."""
MAX_USERINFO = 119
"""The longest user part (``user:password`` as written in the URL, in UTF-8 bytes)
whose sealed form fits ``SECRET_WIDTH`` (``util.secretbox.sealed_length``)."""


@dataclass(frozen=True, slots=True)
class StoredUrl:
    url: str
    """What may be shown: the credentials masked."""
    secret: str
    """The credentials, sealed; empty when the URL has none."""


def context(export_id: str) -> str:
    """What a sealed value is bound to: this export's row and no other."""
    return f"export:{export_id}"


def conceal(box: SecretBox, export_id: str, url: str) -> StoredUrl:
    """How ``url`` is stored: masked, its credentials sealed for this export."""
    credentials = userinfo(url)
    shown = masked(url)
    if len(shown) > MAX_URL_LENGTH:
        raise UrlRefused(f"url must have at most {MAX_URL_LENGTH} characters", code="invalid_url")
    if credentials is None:
        return StoredUrl(url=url, secret="")
    if len(credentials.encode()) > MAX_USERINFO:
        raise Invalid(
            f"the user and password in the url can have at most {MAX_USERINFO} characters "
            "(they are stored encrypted)",
            code="credentials_too_long",
        )
    return StoredUrl(url=shown, secret=box.seal(credentials, context=context(export_id)))


def reveal(box: SecretBox, export_id: str, url: str, secret: str) -> str:
    """The URL to connect with: ``url`` with the credentials ``secret`` seals put back
    (``util.secretbox.SecretUnreadable`` when they do not open). A row without a sealed
    secret is a URL without credentials, or one saved before encryption: as it is."""
    if not secret:
        return url
    credentials = box.open(secret, context=context(export_id))
    parts = urlsplit(url)
    _, _, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{credentials}@{host}"))


def needs_sealing(url: str, secret: str) -> bool:
    """A row saved before encryption whose URL carries credentials in plain text."""
    return not secret and userinfo(url) is not None


def scrub(text: str, url: str) -> str:
    """``text`` (a broker library's error) without the credentials of ``url``: libraries
    mask URLs they print, but the delivery log and ``/readyz`` must not depend on it."""
    credentials = userinfo(url)
    if credentials is None:
        return text
    text = text.replace(url, masked(url)).replace(credentials, "***")
    _, colon, password = credentials.partition(":")
    # A short password would mask unrelated words; one under 4 characters guards
    # nothing anyway.
    if colon and len(password) >= 4:
        text = text.replace(password, "***")
    return text
