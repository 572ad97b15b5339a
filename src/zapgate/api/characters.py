"""The NUL character, refused in everything our users send (see ``domain/text.py``).

Each part of a request is checked in one place, for every route of the app (API and
panel) alike, with the same answer on SQLite and PostgreSQL: 422 ``invalid_character``
naming the field.

- JSON bodies: every body is a model deriving from ``schemas.Input``, whose one field
  validator (:func:`refuse_nul`) looks at every field, nested models, lists and dicts
  (keys too) included.
- Query, path and form values, upload file names included: :func:`refuse_nul_in_request`,
  a dependency of the whole app, so a new route cannot forget it. It runs before the
  route's other dependencies (like a body that is not JSON, it is refused before
  authentication). Forms are checked where a route declares ``Form``/``File``
  parameters, the only way our routes read them (the panel's CSRF token aside).
- Headers are not data, except ``Idempotency-Key``, checked where it is parsed
  (``routes/messages.idempotency_key``, shared by the route and the send fast lane).
"""

from __future__ import annotations

from typing import TypeVar

from fastapi import Request, params
from fastapi.routing import APIRoute
from pydantic_core import PydanticCustomError
from starlette.datastructures import UploadFile
from starlette.requests import HTTPConnection

from zapgate.domain.errors import Invalid
from zapgate.domain.text import NUL, nul_location

T = TypeVar("T")

INVALID_CHARACTER = "invalid_character"
REFUSED = "must not contain the NUL character (U+0000)"


def refuse_nul(value: T) -> T:
    """A field validator: ``value`` unchanged, or a pydantic error naming where the NUL is."""
    where = nul_location(value)
    if where is not None:
        raise PydanticCustomError(INVALID_CHARACTER, REFUSED + (f" (in {where})" if where else ""))
    return value


def character_refused(part: str, name: str) -> Invalid:
    """The error for a NUL in request ``part`` (``query``, ``path``, ``form``, ``header``)."""
    return Invalid(
        f"{name}: {REFUSED}",
        code=INVALID_CHARACTER,
        details=[{"loc": [part, name], "msg": REFUSED, "type": INVALID_CHARACTER}],
    )


async def refuse_nul_in_request(connection: HTTPConnection) -> None:
    """Refuse a NUL in the query string, the path parameters or a form (HTTP and WebSocket)."""
    # Cheap first: a NUL in a query string is either percent-encoded or raw, and every
    # "%00" decodes to one (no escape can swallow its "%"), so most requests stop here.
    raw_query: bytes = connection.scope.get("query_string", b"")
    if b"%00" in raw_query or b"\x00" in raw_query:
        for name, value in connection.query_params.multi_items():
            if NUL in value or NUL in name:
                raise character_refused("query", name)
    for name, value in connection.path_params.items():
        if isinstance(value, str) and NUL in value:
            raise character_refused("path", name)
    if isinstance(connection, Request) and _takes_form(connection):
        await _refuse_nul_in_form(connection)


def _takes_form(request: Request) -> bool:
    """Whether the route reads a form: FastAPI has parsed it then, before dependencies.

    A form sent to any other route is not read, so not parsed here either (parsing it
    would leave its uploaded files for nobody to close).
    """
    route = request.scope.get("route")
    return isinstance(route, APIRoute) and any(
        isinstance(param.field_info, params.Form) for param in route.dependant.body_params
    )


async def _refuse_nul_in_form(request: Request) -> None:
    form = await request.form()  # the route's, parsed already (Starlette keeps it)
    for name, value in form.multi_items():
        if isinstance(value, UploadFile):
            if value.filename is not None and NUL in value.filename:
                raise character_refused("form", f"{name} (file name)")
        elif NUL in value:
            raise character_refused("form", name)
