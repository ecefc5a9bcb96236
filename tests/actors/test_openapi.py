"""The OpenAPI description is true to the router: every route is described, nothing else is,
it is a valid OpenAPI 3.1 document, and it is served behind the token like the rest of the API.
"""

from __future__ import annotations

import json

import pytest
from aiohttp import web
from openapi_spec_validator import validate

from actors.front_config import HttpConfig
from actors.openapi import describe
from actors.routes import build_app
from tests.actors.test_front import call, fake_deps, serving

METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}  # HEAD comes with every GET


def routed(app: web.Application) -> set[tuple[str, str]]:
    """(method, path template) of every route."""
    found = set()
    for route in app.router.routes():
        if route.method not in METHODS:
            continue
        assert route.resource is not None
        found.add((route.method, route.resource.canonical))
    return found


def described(document: dict) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in document["paths"].items()
            for method in item}


@pytest.mark.parametrize("token", ["", "a-token-of-thirty-two-characters"])
def test_every_route_is_described_and_nothing_else(token: str) -> None:
    app = build_app(HttpConfig(port=0, token=token), fake_deps())
    document = describe(token=bool(token), metrics_public=True)
    assert routed(app) == described(document)


def test_an_unrouted_or_undescribed_route_is_caught() -> None:
    """The comparison above can fail: one more route, or one less description."""
    app = build_app(HttpConfig(port=0), fake_deps())
    document = describe(token=False, metrics_public=True)

    async def secret(request: web.Request) -> web.Response:
        return web.Response()

    app.router.add_get("/sessions/{id}/secret", secret)
    assert routed(app) - described(document) == {("GET", "/sessions/{id}/secret")}
    del document["paths"]["/reload"]
    assert described(document) < routed(app)


@pytest.mark.parametrize(("token", "metrics_public"),
                         [(True, True), (True, False), (False, True)])
def test_the_document_is_valid_openapi_3_1(token: bool, metrics_public: bool) -> None:
    document = describe(token=token, metrics_public=metrics_public)
    validate(document)
    assert document["openapi"] == "3.1.0"
    json.dumps(document)  # plain JSON, nothing a client cannot read


def test_security_follows_the_config() -> None:
    secured = describe(token=True, metrics_public=False)
    assert secured["security"] == [{"bearer": []}]
    assert secured["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    paths = secured["paths"]
    for public in ("/", "/healthz", "/static/{filename}"):
        operation = next(iter(paths[public].values()))
        assert operation["security"] == [] and "401" not in operation["responses"]
    assert paths["/demo/webhook"]["post"]["security"] == []  # a signature instead
    assert paths["/metrics"]["get"]["security"] == [{"bearer": []}]
    assert "401" in paths["/sessions"]["get"]["responses"]
    assert describe(token=True, metrics_public=True)["paths"]["/metrics"]["get"][
        "security"] == []
    open_front = describe(token=False, metrics_public=True)
    assert "security" not in open_front and "securitySchemes" not in open_front["components"]


def test_it_is_served_behind_the_token() -> None:
    token = "a-token-of-thirty-two-characters"
    with serving(fake_deps(), token=token, metrics_public=False) as front:
        assert call("GET", front.url + "/openapi.json").status == 401
        answer = call("GET", front.url + "/openapi.json", token=token)
        assert answer.status == 200
        assert answer.headers["Content-Type"].startswith("application/json")
        assert answer.body == json.loads(json.dumps(describe(token=True,
                                                             metrics_public=False)))
