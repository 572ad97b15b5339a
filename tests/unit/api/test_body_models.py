"""Every JSON body a route takes refuses the NUL character (see ``api/characters.py``)."""

from __future__ import annotations

from fastapi import params
from fastapi.routing import APIRoute

from zapgate.api.routes import API_ROUTERS
from zapgate.api.schemas import Input
from zapgate.api.schemas_connections import FromWhatsApp


def test_every_json_body_is_an_input() -> None:
    """The body check lives in ``Input``: a body model of any other kind would skip it."""
    bodies: list[type[Input]] = []
    for router in API_ROUTERS:
        for route in router.routes:
            if not isinstance(route, APIRoute):
                continue
            for param in route.dependant.body_params:
                if isinstance(param.field_info, params.Form):  # File is a Form
                    continue  # checked by the app's dependency, as the panel's forms
                model = param.field_info.annotation
                assert isinstance(model, type), route.path
                assert issubclass(model, Input), route.path
                bodies.append(model)
    assert len(bodies) > 20
    keeping = {m.__name__ for m in bodies if m.keeps_nul}
    assert keeping == {"SimScanIn", "SimIncomingIn", "SimGroupActionIn"}
    assert all(issubclass(m, FromWhatsApp) for m in bodies if m.keeps_nul)
