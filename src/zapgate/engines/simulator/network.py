"""The modelled WhatsApp network: phones, their linked devices, customers and groups.

It is plain synchronous bookkeeping with no timers and no events; the engine drives it
and turns what happens into engine events. Whatever a real network would still know
after the gateway restarts (linked devices, received messages, groups, bans, media) is
persisted through :class:`Persistence`.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, replace
from datetime import datetime

from zapgate.domain.messages import ChatPresence
from zapgate.domain.polls import Poll
from zapgate.engines.simulator.profile_book import ProfileBook
from zapgate.engines.simulator.state import (
    Group,
    LinkedAccount,
    OutboxEntry,
    Persistence,
)

NOT_ON_WHATSAPP_SUFFIX = "0000"
"""The on-WhatsApp rule: every well-formed number is on WhatsApp unless it ends in
``0000`` (``5511999990000`` is not, ``5511999990001`` is). ``set_on_whatsapp``
overrides the rule for one number."""


def brazilian_alternative(phone: str) -> str | None:
    """A Brazilian mobile number in its other form: ``55 DD 9XXXXXXXX`` without the
    ninth digit, ``55 DD XXXXXXXX`` (a mobile's 6-9 first digit) with it."""
    if not phone.startswith("55"):
        return None
    area, local = phone[2:4], phone[4:]
    if len(local) == 9 and local[0] == "9":
        return "55" + area + local[1:]
    if len(local) == 8 and local[0] in "6789":
        return "55" + area + "9" + local
    return None


_MEDIA_KEY = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True, slots=True)
class ReadRecord:
    """The gateway marked messages read: the customer sees blue ticks."""

    chat_jid: str
    message_ids: tuple[str, ...]
    sender_jid: str | None
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class PresenceRecord:
    """The gateway showed "typing…" (or stopped) in a chat."""

    chat_jid: str
    presence: ChatPresence
    timestamp: datetime


class Network:
    def __init__(self, persistence: Persistence) -> None:
        self._store = persistence
        self._accounts: dict[str, LinkedAccount] = {}
        self._devices: dict[str, int] = {}
        """Last device number handed out per phone; a new link never reuses one."""
        self._on_whatsapp: dict[str, bool] = {}
        self._groups: dict[str, Group] = {}
        self._bans: dict[str, datetime] = {}
        self._outboxes: dict[str, list[OutboxEntry]] = {}
        self._outbox_index: dict[str, dict[str, int]] = {}
        self._reads: dict[str, list[ReadRecord]] = {}
        self._presences: dict[str, list[PresenceRecord]] = {}
        self._contacts: dict[tuple[str, str], str | None] = {}
        """``(session_id, phone) -> push name`` last announced to that session."""
        self._media: dict[str, bytes] = {}
        self._polls: dict[tuple[str, str], tuple[str, Poll]] = {}
        """``(session_id, poll id) -> (chat, poll)`` for polls customers sent (in memory:
        a restarted simulator forgets them, as it forgets the customers' phones)."""
        self.profiles = ProfileBook()
        """Pictures, business accounts, blocklists, own profiles (in memory only)."""
        self._load()

    # ---------------------------------------------------------------- persistence

    def _load(self) -> None:
        data = self._store.load_state()
        for raw in data.get("accounts", {}).values():
            account = LinkedAccount.from_json(raw)
            self._accounts[account.session_id] = account
        self._devices = {k: int(v) for k, v in data.get("devices", {}).items()}
        self._on_whatsapp = {k: bool(v) for k, v in data.get("on_whatsapp", {}).items()}
        for raw in data.get("groups", {}).values():
            group = Group.from_json(raw)
            self._groups[group.jid] = group
        self._bans = {k: datetime.fromisoformat(v) for k, v in data.get("bans", {}).items()}
        for session_id, entry in self._store.load_outbox():
            self._record(session_id, entry)

    def _save(self) -> None:
        self._store.save_state(
            {
                "accounts": {sid: a.to_json() for sid, a in self._accounts.items()},
                "devices": self._devices,
                "on_whatsapp": self._on_whatsapp,
                "groups": {g.jid: g.to_json() for g in self._groups.values()},
                "bans": {phone: until.isoformat() for phone, until in self._bans.items()},
            }
        )

    # ---------------------------------------------------------------- numbers

    def is_on_whatsapp(self, phone: str) -> bool:
        explicit = self._on_whatsapp.get(phone)
        if explicit is not None:
            return explicit
        return not phone.endswith(NOT_ON_WHATSAPP_SUFFIX)

    def whatsapp_account(self, phone: str) -> str | None:
        """The number WhatsApp answers for ``phone``: itself when on WhatsApp, else (a
        Brazilian mobile, with or without the ninth digit) the other form when only
        that one was set on WhatsApp, as WhatsApp resolves both; None when neither."""
        if self.is_on_whatsapp(phone):
            return phone
        other = brazilian_alternative(phone)
        if other is not None and self._on_whatsapp.get(other):
            return other
        return None

    def set_on_whatsapp(self, phone: str, on: bool | None) -> None:
        """Override the rule for ``phone``; ``None`` returns it to the rule."""
        if on is None:
            self._on_whatsapp.pop(phone, None)
        else:
            self._on_whatsapp[phone] = on
        self._save()

    # ---------------------------------------------------------------- linked devices

    def account(self, session_id: str) -> LinkedAccount | None:
        return self._accounts.get(session_id)

    def accounts(self) -> list[LinkedAccount]:
        return list(self._accounts.values())

    def link(
        self, session_id: str, phone: str, push_name: str | None, now: datetime
    ) -> LinkedAccount:
        device = self._devices.get(phone, 0) + 1
        self._devices[phone] = device
        account = LinkedAccount(session_id, phone, device, push_name, now)
        self._accounts[session_id] = account
        self._save()
        return account

    def unlink(self, session_id: str) -> LinkedAccount | None:
        account = self._accounts.pop(session_id, None)
        if account is not None:
            self._save()
        return account

    # ---------------------------------------------------------------- bans

    def ban(self, phone: str, until: datetime) -> None:
        self._bans[phone] = until
        self._save()

    def ban_remaining(self, phone: str, now: datetime) -> float | None:
        """Seconds left of the ban on ``phone``; ``None`` when it is not banned."""
        until = self._bans.get(phone)
        if until is None:
            return None
        left = (until - now).total_seconds()
        if left <= 0:
            del self._bans[phone]
            self._save()
            return None
        return left

    # ---------------------------------------------------------------- messages

    def record_send(self, session_id: str, entry: OutboxEntry) -> tuple[OutboxEntry, bool]:
        """Deliver ``entry``; the recipient keeps the first copy of each message id.

        Returns the stored entry and whether this attempt was a duplicate.
        """
        stored, duplicate = self._record(session_id, entry)
        self._store.append_outbox(session_id, entry)
        return stored, duplicate

    def _record(self, session_id: str, entry: OutboxEntry) -> tuple[OutboxEntry, bool]:
        outbox = self._outboxes.setdefault(session_id, [])
        index = self._outbox_index.setdefault(session_id, {})
        position = index.get(entry.wa_message_id)
        if position is None:
            index[entry.wa_message_id] = len(outbox)
            outbox.append(entry)
            return entry, False
        stored = replace(outbox[position], attempts=outbox[position].attempts + 1)
        outbox[position] = stored
        return stored, True

    def change_sent(
        self, session_id: str, wa_message_id: str, *, text: str | None = None, revoke: bool = False
    ) -> OutboxEntry | None:
        """Edit (``text``) or revoke a message the session sent; None when it sent none
        with that id."""
        position = self._outbox_index.get(session_id, {}).get(wa_message_id)
        if position is None:
            return None
        entry = self._outboxes[session_id][position]
        if text is not None:
            entry = replace(entry, edits=[*(entry.edits or []), text])
        if revoke:
            entry = replace(entry, revoked=True)
        self._outboxes[session_id][position] = entry
        self._store.rewrite_outbox(
            [(sid, item) for sid, entries in self._outboxes.items() for item in entries]
        )
        return entry

    def outbox(self, session_id: str) -> list[OutboxEntry]:
        return list(self._outboxes.get(session_id, ()))

    def sent(self, session_id: str, wa_message_id: str) -> OutboxEntry | None:
        position = self._outbox_index.get(session_id, {}).get(wa_message_id)
        return None if position is None else self._outboxes[session_id][position]

    def remember_poll(self, session_id: str, wa_message_id: str, chat: str, poll: Poll) -> None:
        self._polls[(session_id, wa_message_id)] = (chat, poll)

    def poll(self, session_id: str, wa_message_id: str) -> tuple[str, Poll] | None:
        """A poll ``session_id`` sent or received, with its chat; None when unknown."""
        sent = self.sent(session_id, wa_message_id)
        if sent is not None and sent.poll is not None:
            p = sent.poll
            return sent.to_jid, Poll(p["question"], tuple(p["options"]), bool(p["multiple"]))
        return self._polls.get((session_id, wa_message_id))

    def record_read(self, session_id: str, record: ReadRecord) -> None:
        self._reads.setdefault(session_id, []).append(record)

    def reads(self, session_id: str) -> list[ReadRecord]:
        return list(self._reads.get(session_id, ()))

    def record_presence(self, session_id: str, record: PresenceRecord) -> None:
        self._presences.setdefault(session_id, []).append(record)

    def presences(self, session_id: str) -> list[PresenceRecord]:
        return list(self._presences.get(session_id, ()))

    def session_live(self, session_id: str, live: bool) -> None:
        """A session of this process connected (``live``) or ended. Only the shared
        network (``shared.py``) keeps count, across nodes."""

    def close(self) -> None:
        """Release what the network holds open (the shared network's client)."""

    def forget_session(self, session_id: str) -> None:
        """Everything the network kept about a session's device (``delete_session``)."""
        self._accounts.pop(session_id, None)
        self._reads.pop(session_id, None)
        self._presences.pop(session_id, None)
        self._contacts = {k: v for k, v in self._contacts.items() if k[0] != session_id}
        self._polls = {k: v for k, v in self._polls.items() if k[0] != session_id}
        if self._outboxes.pop(session_id, None) is not None:
            self._outbox_index.pop(session_id, None)
            self._store.rewrite_outbox(
                [(sid, entry) for sid, entries in self._outboxes.items() for entry in entries]
            )
        self._save()

    # ---------------------------------------------------------------- contacts, groups

    def contact_changed(self, session_id: str, phone: str, push_name: str | None) -> bool:
        """Remember what ``session_id`` knows of ``phone``; True when that is news."""
        key = (session_id, phone)
        if key in self._contacts and (push_name is None or self._contacts[key] == push_name):
            return False
        self._contacts[key] = push_name if push_name is not None else self._contacts.get(key)
        return True

    def upsert_group(self, jid: str, name: str | None, members: list[str]) -> tuple[Group, bool]:
        """Create or update a group so ``members`` are in it; True when it changed."""
        group = self._groups.get(jid)
        changed = group is None
        if group is None:
            group = Group(jid=jid, name=name or jid.split("@", 1)[0])
            self._groups[jid] = group
        elif name is not None and name != group.name:
            group.name = name
            changed = True
        for phone in members:
            if phone not in group.participants:
                group.participants.append(phone)
                changed = True
        if changed:
            self._save()
        return group, changed

    def group(self, jid: str) -> Group | None:
        return self._groups.get(jid)

    def add_group(self, group: Group) -> None:
        self._groups[group.jid] = group
        self._save()

    def group_saved(self) -> None:
        """Persist a change made to a group in place."""
        self._save()

    def group_by_invite(self, code: str) -> Group | None:
        return next((g for g in self._groups.values() if code and g.invite == code), None)

    def groups_of(self, phone: str) -> list[Group]:
        return [g for g in self._groups.values() if phone in g.participants]

    # ---------------------------------------------------------------- media

    def put_media(self, data: bytes) -> tuple[str, str]:
        """Keep incoming media; returns ``(key, sha256 hex)``."""
        key = os.urandom(16).hex()
        if self._store.root is None:
            self._media[key] = data
        else:
            # On disk only: a long demo run must not keep every photo in memory.
            self._store.save_media(key, data)
        return key, hashlib.sha256(data).hexdigest()

    def get_media(self, key: str) -> bytes | None:
        if not _MEDIA_KEY.match(key):
            return None
        data = self._media.get(key)
        if data is None:
            data = self._store.load_media(key)
        return data
