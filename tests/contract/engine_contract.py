"""The engine contract: what every :class:`~zapgate.engines.base.Engine` must do.

Run it against an implementation by subclassing :class:`EngineContract` in a
``test_*.py`` module and overriding the ``harness`` fixture so it yields a started
engine wrapped in an :class:`EngineHarness`::

    class TestMyEngine(EngineContract):
        network_available = False   # offline: tests marked @needs_network are deselected

        @pytest.fixture
        async def harness(self, tmp_path):
            h = MyHarness(tmp_path)
            await h.start()
            yield h
            await h.engine.close()

The harness is where an implementation supplies what only a test can do: let time
pass, play the phone that links a device, restart the engine on the same data
directory. Tests speak only the protocol otherwise, so a passing implementation is
interchangeable with the others for the rest of zapgate.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import ClassVar, TypeVar

import pytest

from zapgate.domain.errors import EngineError, SessionNotRunning
from zapgate.domain.messages import ChatPresence, MessageType
from zapgate.domain.phones import user_jid
from zapgate.engines.base import Engine, OutgoingMessage, SessionSpec, new_wa_message_id
from zapgate.engines.events import Connected, EngineEvent, LoggedOut, Paired, QrIssued
from zapgate.engines.profile_types import ContactProfile, ProfileUpdate

E = TypeVar("E")
T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., object])

ORG = "org-contract"


def needs_network(test: F) -> F:
    """Mark a test that needs WhatsApp reachable (and a phone to link with).

    Classes with ``network_available = False`` do not run it (see ``conftest.py``).
    """
    test.needs_network = True  # type: ignore[attr-defined]
    return test


class EngineHarness(ABC):
    """One started engine plus the powers only a test has over it."""

    engine: Engine
    events: list[EngineEvent]
    """Every event the engine emitted, in order, across restarts."""
    recipient: str
    """A phone number known to be on WhatsApp, to send to."""

    @abstractmethod
    def now(self) -> datetime:
        """The engine's idea of the current time."""

    @abstractmethod
    async def advance(self, seconds: float) -> None:
        """Let ``seconds`` of the engine's time pass (a manual clock, or real waiting)."""

    async def run(self, call: Awaitable[T]) -> T:
        """Await an engine call that may need engine time to pass (a send's latency).

        With real time it is just awaited; a manual clock must be moved meanwhile.
        """
        return await call

    @abstractmethod
    async def link(self, session_id: str) -> Paired:
        """Play the phone: link the session (which is showing QR codes) and return its
        ``Paired`` event once ``Connected`` has followed."""

    @abstractmethod
    async def restart(self) -> None:
        """Close the engine and start a new instance on the same data directory, sending
        its events to the same ``events`` list; ``engine`` is the new instance after."""


class EngineContract:
    """The tests; subclasses (named ``Test…``) supply the ``harness`` fixture."""

    network_available: ClassVar[bool] = True
    """False for an implementation tested offline: ``@needs_network`` tests are left out."""
    step: ClassVar[float] = 1.0
    """Seconds of engine time between looks while waiting for an event."""

    @pytest.fixture
    async def harness(self) -> EngineHarness:
        raise NotImplementedError("override the harness fixture in the subclass")

    # ---------------------------------------------------------------- helpers

    @staticmethod
    def spec(session_id: str, *, resume: bool = False, jid: str | None = None) -> SessionSpec:
        return SessionSpec(session_id=session_id, organization_id=ORG, resume=resume, jid=jid)

    async def wait_for(
        self,
        harness: EngineHarness,
        kind: type[E],
        session_id: str,
        *,
        timeout: float = 30.0,
        after: int = 0,
    ) -> E:
        """The first ``kind`` event of ``session_id`` among events from index ``after`` on."""
        waited = 0.0
        while True:
            for event in harness.events[after:]:
                if isinstance(event, kind) and getattr(event, "session_id", None) == session_id:
                    return event
            if waited >= timeout:
                raise AssertionError(f"no {kind.__name__} for {session_id} in {timeout}s")
            await harness.advance(self.step)
            waited += self.step

    @staticmethod
    def of(harness: EngineHarness, session_id: str, after: int = 0) -> list[EngineEvent]:
        return [e for e in harness.events[after:] if getattr(e, "session_id", None) == session_id]

    async def linked(self, harness: EngineHarness, session_id: str) -> Paired:
        await harness.engine.open_session(self.spec(session_id))
        await self.wait_for(harness, QrIssued, session_id)
        return await harness.link(session_id)

    # ---------------------------------------------------------------- offline

    async def test_implements_the_protocol(self, harness: EngineHarness) -> None:
        assert isinstance(harness.engine, Engine)
        assert isinstance(harness.engine.name, str)
        assert harness.engine.name

    async def test_close_session_of_an_unknown_session_is_fine(
        self, harness: EngineHarness
    ) -> None:
        await harness.engine.close_session("never-opened")

    async def test_logout_and_delete_of_an_unknown_session_are_fine(
        self, harness: EngineHarness
    ) -> None:
        await harness.engine.logout("never-opened")
        await harness.engine.delete_session("never-opened")

    async def test_send_when_not_running_raises(self, harness: EngineHarness) -> None:
        message = OutgoingMessage(
            wa_message_id=new_wa_message_id(),
            to_jid=user_jid(harness.recipient),
            type=MessageType.TEXT,
            text="hello",
        )
        with pytest.raises(SessionNotRunning) as caught:
            await harness.engine.send("never-opened", message)
        assert caught.value.permanent is False

    async def test_other_calls_when_not_running_raise(self, harness: EngineHarness) -> None:
        engine = harness.engine
        jid = user_jid(harness.recipient)
        with pytest.raises(EngineError) as checks:
            await engine.check_numbers("never-opened", [harness.recipient])
        with pytest.raises(EngineError) as groups:
            await engine.get_groups("never-opened")
        with pytest.raises(EngineError) as read:
            await engine.mark_read("never-opened", jid, ["3EB0AA"], None)
        with pytest.raises(EngineError) as presence:
            await engine.send_presence("never-opened", jid, ChatPresence.TYPING)
        with pytest.raises(EngineError) as edit:
            await engine.edit_message("never-opened", jid, "3EB0AA", "new text")
        with pytest.raises(EngineError) as revoke:
            await engine.revoke_message("never-opened", jid, "3EB0AA")
        with pytest.raises(EngineError) as online:
            await engine.set_presence("never-opened", True)
        calls = (checks, groups, read, presence, edit, revoke, online)
        refusals = [(e.value.code, e.value.permanent) for e in calls]
        assert refusals == [("not_connected", False)] * 7, refusals

    async def test_profile_calls_when_not_running_raise(self, harness: EngineHarness) -> None:
        engine = harness.engine
        jid = user_jid(harness.recipient)
        with pytest.raises(EngineError) as profile:
            await engine.contact_profile("never-opened", jid)
        with pytest.raises(EngineError) as block:
            await engine.set_blocked("never-opened", jid, True)
        with pytest.raises(EngineError) as own:
            await engine.update_profile("never-opened", ProfileUpdate(status="oi"))
        refusals = [(e.value.code, e.value.permanent) for e in (profile, block, own)]
        assert refusals == [("not_connected", False)] * 3, refusals

    async def test_ping_is_false_for_an_unknown_session(self, harness: EngineHarness) -> None:
        assert await harness.engine.ping("never-opened") is False

    # ---------------------------------------------------------------- linking

    @needs_network
    async def test_open_issues_a_qr_code_with_its_expiry(self, harness: EngineHarness) -> None:
        await harness.engine.open_session(self.spec("s1"))
        qr = await self.wait_for(harness, QrIssued, "s1")
        assert qr.index == 1
        assert qr.total >= 1
        assert qr.expires_at > harness.now()
        assert re.fullmatch(r"2@[^,]+(,[A-Za-z0-9+/=]+){3}", qr.code)
        assert await harness.engine.ping("s1") is False

    @needs_network
    async def test_opening_a_running_session_is_an_error(self, harness: EngineHarness) -> None:
        await harness.engine.open_session(self.spec("s1"))
        with pytest.raises(EngineError):
            await harness.engine.open_session(self.spec("s1"))

    @needs_network
    async def test_pairing_code_has_the_whatsapp_shape(self, harness: EngineHarness) -> None:
        await harness.engine.open_session(self.spec("s1"))
        await self.wait_for(harness, QrIssued, "s1")
        pairing = await harness.engine.request_pairing_code("s1", harness.recipient)
        assert re.fullmatch(r"[A-Z0-9]{4}-[A-Z0-9]{4}", pairing.code)
        assert pairing.expires_at > harness.now()

    @needs_network
    async def test_link_pairs_then_connects(self, harness: EngineHarness) -> None:
        paired = await self.linked(harness, "s1")
        connected = await self.wait_for(harness, Connected, "s1")
        kinds = [type(e) for e in self.of(harness, "s1")]
        assert kinds.index(Paired) < kinds.index(Connected)
        assert paired.jid.endswith("@s.whatsapp.net")
        assert connected.jid == paired.jid
        assert connected.phone == paired.phone
        assert await harness.engine.ping("s1") is True

    @needs_network
    async def test_close_session_keeps_the_credentials(self, harness: EngineHarness) -> None:
        paired = await self.linked(harness, "s1")
        await harness.engine.close_session("s1")
        assert await harness.engine.ping("s1") is False
        mark = len(harness.events)
        await harness.engine.open_session(self.spec("s1", resume=True, jid=paired.jid))
        connected = await self.wait_for(harness, Connected, "s1", after=mark)
        assert connected.jid == paired.jid
        assert not any(isinstance(e, QrIssued) for e in self.of(harness, "s1", mark))

    @needs_network
    async def test_logout_forgets_the_device(self, harness: EngineHarness) -> None:
        paired = await self.linked(harness, "s1")
        await harness.engine.logout("s1")
        assert await harness.engine.ping("s1") is False
        mark = len(harness.events)
        await harness.engine.open_session(self.spec("s1", resume=True, jid=paired.jid))
        await self.wait_for(harness, LoggedOut, "s1", after=mark)

    @needs_network
    async def test_delete_session_forgets_everything(self, harness: EngineHarness) -> None:
        paired = await self.linked(harness, "s1")
        await harness.engine.delete_session("s1")
        mark = len(harness.events)
        await harness.engine.open_session(self.spec("s1", resume=True, jid=paired.jid))
        await self.wait_for(harness, LoggedOut, "s1", after=mark)

    @needs_network
    async def test_a_closed_session_emits_no_more_codes(self, harness: EngineHarness) -> None:
        await harness.engine.open_session(self.spec("s1"))
        await self.wait_for(harness, QrIssued, "s1")
        await harness.engine.close_session("s1")
        mark = len(harness.events)
        await harness.advance(120)
        assert self.of(harness, "s1", mark) == []
        await harness.engine.open_session(self.spec("s1"))
        await self.wait_for(harness, QrIssued, "s1", after=mark)

    @needs_network
    async def test_restarted_engine_resumes_a_linked_device(self, harness: EngineHarness) -> None:
        paired = await self.linked(harness, "s1")
        await harness.restart()
        mark = len(harness.events)
        await harness.engine.open_session(self.spec("s1", resume=True, jid=paired.jid))
        connected = await self.wait_for(harness, Connected, "s1", after=mark)
        assert connected.jid == paired.jid

    # ---------------------------------------------------------------- connected

    @needs_network
    async def test_send_returns_the_chosen_message_id(self, harness: EngineHarness) -> None:
        await self.linked(harness, "s1")
        message = OutgoingMessage(
            wa_message_id=new_wa_message_id(),
            to_jid=user_jid(harness.recipient),
            type=MessageType.TEXT,
            text="contract hello",
        )
        result = await harness.run(harness.engine.send("s1", message))
        assert result.wa_message_id == message.wa_message_id
        assert result.timestamp.tzinfo is not None

    @needs_network
    async def test_check_numbers_answers_each_number(self, harness: EngineHarness) -> None:
        await self.linked(harness, "s1")
        checks = await harness.run(harness.engine.check_numbers("s1", [harness.recipient]))
        assert len(checks) == 1
        assert checks[0].on_whatsapp is True
        assert checks[0].jid == user_jid(harness.recipient)

    @needs_network
    async def test_presence_read_and_groups_work_when_connected(
        self, harness: EngineHarness
    ) -> None:
        await self.linked(harness, "s1")
        jid = user_jid(harness.recipient)
        await harness.run(harness.engine.send_presence("s1", jid, ChatPresence.TYPING))
        await harness.run(harness.engine.set_presence("s1", True))
        await harness.run(harness.engine.mark_read("s1", jid, [new_wa_message_id()], jid))
        assert isinstance(await harness.run(harness.engine.get_groups("s1")), list)

    @needs_network
    async def test_profiles_work_when_connected(self, harness: EngineHarness) -> None:
        await self.linked(harness, "s1")
        jid = user_jid(harness.recipient)
        profile = await harness.run(harness.engine.contact_profile("s1", jid))
        assert isinstance(profile, ContactProfile)
        assert profile.picture is None or profile.picture.data
        await harness.run(harness.engine.set_blocked("s1", jid, True))
        await harness.run(harness.engine.set_blocked("s1", jid, False))
        await harness.run(harness.engine.update_profile("s1", ProfileUpdate(status="zapgate")))
