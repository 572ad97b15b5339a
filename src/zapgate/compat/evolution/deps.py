"""Who calls and on which instance: the ``apikey`` header and the instance name."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

from fastapi import Request
from pydantic import BaseModel, ValidationError

from zapgate.domain.errors import DomainError, Invalid, NotFound, Unauthorized
from zapgate.services.context import Principal
from zapgate.services.security import API_KEY_PREFIX
from zapgate.services.system import System

if TYPE_CHECKING:
    # Rows handed over by the services, named for type checking only.
    from zapgate.store.tables.connections import ConnectionRow

DOCS = "docs/evolution.md"
M = TypeVar("M", bound=BaseModel)


class NotImplementedRoute(DomainError):
    code = "not_implemented"
    status = 501


def not_implemented(method: str, path: str) -> NotImplementedRoute:
    return NotImplementedRoute(
        f"{method} {path} is not supported by zapgate's Evolution API layer yet; "
        f"see {DOCS} for the routes it serves",
        code="evolution_route_not_supported",
    )


@dataclass(frozen=True, slots=True)
class Caller:
    principal: Principal
    instance_id: str | None
    """Set for an instance token: the only connection the caller may touch."""

    @property
    def is_global(self) -> bool:
        return self.instance_id is None


def services(request: Request) -> System:
    return cast(System, request.app.state.services())


async def caller(request: Request) -> Caller:
    key = (request.headers.get("apikey") or "").strip()
    if not key:
        raise Unauthorized("Unauthorized", code="unauthenticated")
    found = services(request)
    if key.startswith(API_KEY_PREFIX):
        return Caller(await found.accounts.principal_from_api_key(key), None)
    access = await found.instances.authenticate(key)
    return Caller(access.principal, access.connection_id)


async def global_caller(request: Request) -> Caller:
    """Routes that are not about one instance (create, the organization's lists)."""
    who = await caller(request)
    if not who.is_global:
        raise Unauthorized("an instance token cannot do this", code="global_key_required")
    return who


async def instance_of(request: Request, who: Caller, name: str) -> ConnectionRow:
    """The caller's instance called ``name``: 404 when the organization has none, 401
    when an instance token names another one."""
    try:
        row = await services(request).instances.by_name(who.principal, name)
    except NotFound:
        if who.instance_id is not None:
            raise Unauthorized("Unauthorized", code="instance_token_mismatch") from None
        raise
    if who.instance_id is not None and row.id != who.instance_id:
        raise Unauthorized("Unauthorized", code="instance_token_mismatch")
    return row


async def body_of(request: Request, model: type[M]) -> M:
    """The JSON body, or the fields of a multipart/urlencoded form (whose numbers and
    booleans arrive as strings and are converted), validated by ``model``."""
    kind = request.headers.get("content-type", "")
    values: dict[str, Any]
    if kind.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        values = {}
        # Closing the form closes its spooled upload files.
        async with request.form() as form:
            for name, value in form.multi_items():
                if isinstance(value, str):
                    values[name] = _form_value(value)
                else:
                    values[name] = {
                        "data": await value.read(),
                        "filename": value.filename,
                        "mimetype": value.content_type,
                    }
    else:
        raw = await request.body()
        try:
            decoded = json.loads(raw) if raw.strip() else {}
        except ValueError as exc:
            raise Invalid("the body is not valid JSON", code="invalid_json") from exc
        if not isinstance(decoded, dict):
            raise Invalid("the body must be a JSON object", code="invalid_json")
        values = decoded
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
        ]
        raise Invalid("; ".join(problems), code="validation_error", details=problems) from exc


def _form_value(value: str) -> Any:
    # Form fields are text; nested objects (quoted, mentioned) come as JSON text.
    text = value.strip()
    if text[:1] in "[{":
        try:
            return json.loads(text)
        except ValueError:
            return value
    return value
