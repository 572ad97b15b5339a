"""``/settings/set`` and ``/settings/find``: Evolution's instance settings, mapped onto a
connection's behaviour settings (``PATCH /connections/{id}``).

Evolution's field → zapgate's: ``rejectCall`` → ``reject_calls``, ``msgCall`` →
``reject_call_message``, ``groupsIgnore`` → ``ignore_groups``, ``alwaysOnline`` →
``always_online``, ``readMessages`` → ``auto_read``, ``readStatus`` → not
``ignore_status`` (Evolution drops status broadcasts unless ``readStatus`` is on),
``syncFullHistory`` → ``sync_history`` ``full`` (off: ``recent``). ``wavoipToken`` has no
counterpart: it is answered empty and refused when set.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, StrictBool, ValidationError

from zapgate.domain.errors import Invalid

from .deps import Caller, NotImplementedRoute, body_of, caller, instance_of, services

if TYPE_CHECKING:
    # Rows handed over by the services, named for type checking only.
    from zapgate.store.tables.connections import ConnectionRow

router = APIRouter()
Who = Annotated[Caller, Depends(caller)]

FLAGS = {
    "rejectCall": "reject_calls",
    "groupsIgnore": "ignore_groups",
    "alwaysOnline": "always_online",
    "readMessages": "auto_read",
}
NAMES = (*FLAGS, "msgCall", "readStatus", "syncFullHistory")
"""Evolution's setting names zapgate serves (``instance/create`` takes them too)."""


class SettingsIn(BaseModel):
    """Evolution requires every flag; zapgate changes only the ones given."""

    model_config = ConfigDict(extra="ignore")
    rejectCall: StrictBool | None = None
    msgCall: str | None = None
    groupsIgnore: StrictBool | None = None
    alwaysOnline: StrictBool | None = None
    readMessages: StrictBool | None = None
    readStatus: StrictBool | None = None
    syncFullHistory: StrictBool | None = None
    wavoipToken: str | None = None


def parse_settings(values: dict[str, Any]) -> SettingsIn:
    try:
        return SettingsIn.model_validate(values)
    except ValidationError as exc:
        problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise Invalid("; ".join(problems), code="validation_error", details=problems) from exc


def settings_of(row: ConnectionRow) -> dict[str, Any]:
    """The connection's behaviour in Evolution's names."""
    values: dict[str, Any] = {name: bool(getattr(row, ours)) for name, ours in FLAGS.items()}
    values["msgCall"] = row.reject_call_message or ""
    values["readStatus"] = not row.ignore_status
    values["syncFullHistory"] = row.sync_history == "full"
    values["wavoipToken"] = ""
    return values


def changes_of(body: SettingsIn, row: ConnectionRow) -> dict[str, Any]:
    """zapgate's settings for what ``body`` gives."""
    if body.wavoipToken:
        raise NotImplementedRoute(
            "zapgate has no WAVoIP calls; leave wavoipToken empty", code="not_supported"
        )
    changes: dict[str, Any] = {
        ours: getattr(body, name) for name, ours in FLAGS.items() if getattr(body, name) is not None
    }
    if body.msgCall is not None:
        changes["reject_call_message"] = body.msgCall
    if body.readStatus is not None:
        changes["ignore_status"] = not body.readStatus
    if body.syncFullHistory is True:
        changes["sync_history"] = "full"
    elif body.syncFullHistory is False and row.sync_history == "full":
        changes["sync_history"] = "recent"
    return changes


async def apply(request: Request, who: Caller, row: ConnectionRow, body: SettingsIn) -> Any:
    changes = changes_of(body, row)
    if not changes:
        return row
    return await services(request).connections.update(who.principal, row.id, **changes)


@router.post("/settings/set/{instance}")
async def set_settings(request: Request, instance: str, who: Who) -> Any:
    row = await instance_of(request, who, instance)
    body = await body_of(request, SettingsIn)
    row = await apply(request, who, row, body)
    return {
        "settings": {
            "instanceName": row.name,
            "instanceId": row.id,
            "settings": settings_of(row),
        }
    }


@router.get("/settings/find/{instance}")
async def find_settings(request: Request, instance: str, who: Who) -> Any:
    row = await instance_of(request, who, instance)
    return settings_of(row)
