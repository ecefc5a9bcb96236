"""The OpenAPI 3.1 description of Warden's HTTP API, as `GET /openapi.json` answers it.

It is written here by hand, beside the routes, and held to them by tests: every route the
router has is described and nothing else (tests/actors/test_openapi.py), and a live front is
fuzzed against it (no 5xx, every answer matches its schema). Every error answers
`{"error": message}`, so each operation's `default` answer is that.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

from actors.outbox_schema import DeliveryState
from runtime import ChildState

__all__ = ["describe"]

Schema = dict[str, Any]

STATES = [str(state) for state in ChildState]
DELIVERY_STATES = [str(state) for state in DeliveryState]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(kind: str, **more: Any) -> Schema:
    return {"type": [kind, "null"], **more}


def _object(properties: dict[str, Schema], *, optional: tuple[str, ...] = ()) -> Schema:
    """An object with `properties`, all required but `optional`; more properties may come."""
    return {"type": "object", "properties": properties,
            "required": [name for name in properties if name not in optional]}


def _list(items: Schema) -> Schema:
    return {"type": "array", "items": items}


TIME = _nullable("string", format="date-time", description="ISO 8601 UTC, milliseconds")
STRINGS = _list({"type": "string"})

SCHEMAS: dict[str, Schema] = {
    "Error": _object({"error": {"type": "string"}, "errors": STRINGS}, optional=("errors",)),
    "Session": _object({
        "id": {"type": "string"},
        "state": {"type": "string", "enum": STATES},
        "adapter": _nullable("string"),
        "restarts": {"type": "integer", "minimum": 0, "description": "within the window"},
        "restarts_total": {"type": "integer", "minimum": 0},
        "last_restart_reason": _nullable("string"),
        "last_heartbeat": TIME,
        "last_activity": TIME,
        "last_canary": TIME,
        "inactive_seconds": _nullable("number", minimum=0),
        "browser_pid": _nullable("integer"),
        "memory_bytes": _nullable("integer", minimum=0),
        "uptime_seconds": _nullable("number", minimum=0),
        "abandoned": {"type": "integer", "minimum": 0,
                      "description": "threads its kills did not free, left blocked"},
    }),
    "Sessions": _object({"sessions": _list(_ref("Session"))}),
    "Command": _object({"success": {"const": True}, "message": {"type": "string"},
                        "sessionId": {"type": "string"}}),
    "Health": _object({"status": {"enum": ["ok", "down"]}}),
    "HealthDetail": _object({
        "status": {"enum": ["ok", "degraded", "down"]},
        "problems": {**STRINGS, "description": "one sentence each; empty when ok"},
        "children": {"type": "object", "description": "how many children are in each state",
                     "propertyNames": {"enum": STATES},
                     "additionalProperties": {"type": "integer", "minimum": 1}},
        "abandoned": {"type": "integer", "minimum": 0,
                      "description": "threads left blocked in pages that were killed"},
        "outbox": {"oneOf": [_ref("OutboxHealth"), {"type": "null"}]},
    }),
    "HealthSessions": _object({
        "totalSessions": {"type": "integer", "minimum": 0},
        "healthySessions": {"type": "integer", "minimum": 0},
        "stuckSessions": {"type": "integer", "minimum": 0},
        "sessions": _list(_object({
            "sessionId": {"type": "string"},
            "lastActivity": TIME,
            "inactiveDuration": _nullable("integer", minimum=0, description="milliseconds"),
            "isHealthy": {"type": "boolean"},
            "restartAttempts": {"type": "integer", "minimum": 0},
            "state": {"type": "string", "enum": STATES},
        })),
    }),
    "Event": _object({
        "name": {"type": "string"},
        "supervisor": {"type": "string"},
        "child": _nullable("string"),
        "at": TIME,
        "reason": _nullable("string"),
        "attempt": _nullable("integer"),
        "delay": _nullable("number"),
        "recovery_seconds": _nullable("number"),
        "detail": _nullable("string"),
        "incident": _nullable("string"),
    }),
    "Events": _object({"events": _list(_ref("Event"))}),
    "Qr": _object({"qr": {"type": "string", "description": "the payload the QR code encodes"},
                   "expires_at": TIME}),
    "PairingRequest": _object({"phone": {
        "type": "string", "pattern": r"^\+?[0-9]{7,15}$",
        "description": "the number with its country code, e.g. +4915112345678"}}),
    "PairingCode": _object({"code": {"type": "string"}}),
    "Incident": _object({
        "id": {"type": "string"},
        "session_id": {"type": "string"},
        "reason": {"type": "string"},
        "detail": _nullable("string"),
        "at": TIME,
        "state_before": _nullable("string"),
        "screenshot": {"type": "boolean"},
        "console": STRINGS,
        "events": _list(_ref("Event")),
        "process": _object({
            "pids": _list({"type": "integer"}),
            "rss_anon_bytes": _nullable("integer"),
            "pss_bytes": _nullable("integer"),
            "cpu_seconds": {"type": "number"},
        }),
        "last_heartbeat": TIME,
        "last_activity": TIME,
        "last_canary": TIME,
    }),
    "Incidents": _object({"incidents": _list(_ref("Incident"))}),
    "Reloaded": _object({"added": STRINGS, "removed": STRINGS, "restarted": STRINGS,
                         "unchanged": STRINGS, "file": {"type": "string"}}),
    "Webhook": _object({
        "state": _nullable("string"),
        "endpoint_state": _nullable("string"),
        "paused_reason": _nullable("string"),
        "pending": _nullable("integer", minimum=0),
        "oldest_age_seconds": _nullable("number", minimum=0),
        "dead_letters": _nullable("integer", minimum=0),
        "delivered": _nullable("integer", minimum=0),
    }),
    "Received": _object({
        "webhook_id": {"type": "string"},
        "type": {"type": "string"},
        "session_id": {"type": "string"},
        "seq": {"type": "integer"},
        "timestamp": {"type": "string"},
        "received_at": TIME,
        "duplicate": {"type": "boolean"},
        "data": {"type": "object"},
    }),
    "Sink": _object({
        "accepted": {"type": "integer", "minimum": 0},
        "rejected": {"type": "integer", "minimum": 0},
        "duplicates": {"type": "integer", "minimum": 0},
        "events": _list(_ref("Received")),
    }),
    "Overview": _object({
        "now": TIME,
        "running": {"type": "boolean"},
        "sessions": _list(_ref("Session")),
        "events": _list(_ref("Event")),
        "webhook": _ref("Webhook"),
        "webhooks": {"oneOf": [_ref("Webhooks"), {"type": "null"}]},
        "sink": {"oneOf": [_ref("Sink"), {"type": "null"}]},
    }),
    "Endpoint": _object({
        "id": {"type": "string"},
        "url": {"type": "string", "description": "without credentials or query"},
        "state": {"enum": ["active", "paused"]},
        "pending": {"type": "integer", "minimum": 0},
        "oldest_age_seconds": _nullable("number", minimum=0),
        "dead_letters": {"type": "integer", "minimum": 0},
        "delivered_total": {"type": "integer", "minimum": 0},
    }),
    "Endpoints": _object({"endpoints": _list(_ref("Endpoint"))}),
    "Delivery": _object({
        "id": {"type": "string"},
        "type": {"type": "string"},
        "session_id": {"type": "string"},
        "seq": {"type": "integer", "minimum": 1},
        "timestamp": {"type": "string"},
        "state": {"enum": DELIVERY_STATES},
        "attempts": {"type": "integer", "minimum": 0},
        "last_status": _nullable("integer"),
    }),
    "Deliveries": _object({"events": _list(_ref("Delivery"))}),
    "EventDeliveries": _object({
        "id": {"type": "string"},
        "type": {"type": "string"},
        "session_id": {"type": "string"},
        "seq": {"type": "integer", "minimum": 1},
        "timestamp": {"type": "string"},
        "deliveries": _list(_object({
            "endpoint": {"type": "string"},
            "state": {"enum": DELIVERY_STATES},
            "next_attempt_at": TIME,
            "attempts": _list(_object({
                "at": TIME,
                "status": _nullable("integer"),
                "error": _nullable("string"),
                "duration_ms": _nullable("number"),
            })),
        })),
    }),
    "Replay": {**_object({
        "since": {"type": "string", "format": "date-time",
                  "description": "ISO 8601 with a zone, not in the future"},
        "session": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
    }, optional=("session",)), "additionalProperties": False},
    "Requeued": _object({"requeued": {"type": "integer", "minimum": 0}}),
    "OutboxHealth": _object({
        "healthy": {"type": "boolean"},
        "problems": STRINGS,
        "free_bytes": _nullable("integer", minimum=0),
        "append_failures": {"type": "integer", "minimum": 0},
        "last_failure": _nullable("string"),
    }),
    "Webhooks": _object({"endpoints": _list(_ref("Endpoint")),
                         "outbox": _ref("OutboxHealth")}),
    "AnyObject": {"type": "object", "description": "optional; ignored"},
}

# --- parameters ---------------------------------------------------------------------------------

SESSION_ID: Schema = {"name": "id", "in": "path", "required": True,
                      "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}}
INCIDENT_ID: Schema = {"name": "incident", "in": "path", "required": True,
                       "schema": {"type": "string", "pattern": "^inc_[0-9a-f]{12,32}$"}}
ENDPOINT_ID: Schema = {"name": "endpoint", "in": "path", "required": True,
                       "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}}
EVENT_ID: Schema = {"name": "event_id", "in": "path", "required": True,
                    "schema": {"type": "string", "pattern": "^evt_[0-9A-HJKMNP-TV-Z]{26}$"}}
FILENAME: Schema = {"name": "filename", "in": "path", "required": True,
                    "schema": {"type": "string"}}


def _limit(default: int) -> Schema:
    return {"name": "limit", "in": "query", "required": False,
            "schema": {"type": "integer", "minimum": 1, "maximum": 999_999_999,
                       "default": default}}


QR_FORMAT: Schema = {"name": "format", "in": "query", "required": False,
                     "schema": {"enum": ["png", "json"], "default": "png"}}

# --- answers ------------------------------------------------------------------------------------


def _json(schema: str, description: str) -> Schema:
    return {"description": description,
            "content": {"application/json": {"schema": _ref(schema)}}}


def _png(description: str) -> Schema:
    return {"description": description,
            "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}}


def _error(description: str) -> Schema:
    return _json("Error", description)


NO_SESSION = {"400": _error("a malformed session id"), "404": _error("no such session")}
NO_ENDPOINT = {"400": _error("a malformed endpoint id or query"),
               "404": _error("no such endpoint")}
OPTIONAL_BODY: Schema = {"required": False, "content": {
    "application/json": {"schema": _ref("AnyObject")}}}


def _operation(summary: str, answers: dict[str, Schema], *, tag: str,
               parameters: list[Schema] | None = None, body: Schema | None = None,
               security: list[dict[str, list[str]]] | None = None) -> Schema:
    operation: Schema = {"summary": summary, "tags": [tag],
                         "responses": {**answers, "default": _error("an error")}}
    if parameters:
        operation["parameters"] = parameters
    if body is not None:
        operation["requestBody"] = body
    if security is not None:
        operation["security"] = security
    return operation


def _command(action: str, summary: str) -> Schema:
    return {"post": _operation(summary, {
        "202": _json("Command", f"{action} initiated"), **NO_SESSION},
        tag="sessions", parameters=[SESSION_ID], body=OPTIONAL_BODY)}


def _paths(metrics_security: list[dict[str, list[str]]]) -> dict[str, Schema]:
    public: list[dict[str, list[str]]] = []
    return {
        "/": {"get": _operation("The dashboard page", {"200": {
            "description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}}},
            tag="dashboard", security=public)},
        "/static/{filename}": {"get": _operation("The dashboard's files", {
            "200": {"description": "a script, style sheet or image"},
            "404": _error("no such file")},
            tag="dashboard", parameters=[FILENAME], security=public)},
        "/healthz": {"get": _operation("Whether the root supervisor runs", {
            "200": _json("Health", "it runs"), "503": _json("Health", "it does not")},
            tag="health", security=public)},
        "/healthz/detail": {"get": _operation("Whether the runtime does its job, and what not", {
            "200": _json("HealthDetail", "it runs: ok, or degraded with its problems"),
            "503": _json("HealthDetail", "the root supervisor does not run")}, tag="health")},
        "/metrics": {"get": _operation("Prometheus metrics", {"200": {
            "description": "the Prometheus text format",
            "content": {"text/plain": {"schema": {"type": "string"}}}},
            "404": _error("metrics are not enabled")},
            tag="health", security=metrics_security)},
        "/openapi.json": {"get": _operation("This description", {"200": {
            "description": "OpenAPI 3.1", "content": {"application/json": {
                "schema": {"type": "object"}}}}}, tag="health")},
        "/sessions": {"get": _operation("Every session", {
            "200": _json("Sessions", "the sessions, in configured order")}, tag="sessions")},
        "/sessions/{id}": {"get": _operation("One session", {
            "200": _json("Session", "the session"), **NO_SESSION},
            tag="sessions", parameters=[SESSION_ID])},
        "/sessions/{id}/restart": _command("restart", "Restart a session now"),
        "/sessions/{id}/stop": _command("stop", "Stop a session; no automatic restart"),
        "/sessions/{id}/start": _command(
            "start", "Start a stopped or failed session with a fresh restart budget"),
        "/health/sessions": {"get": _operation("A summary of every session's health", {
            "200": _json("HealthSessions", "the summary")}, tag="sessions")},
        "/accounts/{id}/status": {"get": _operation("One session (alias)", {
            "200": _json("Session", "the session"), **NO_SESSION},
            tag="sessions", parameters=[SESSION_ID])},
        "/accounts/{id}/restart": _command("restart", "Restart a session now (alias)"),
        "/accounts/{id}/disconnect": _command("stop", "Stop a session (alias of stop)"),
        "/sessions/{id}/qr": {"get": _operation("The login QR code the page shows now", {
            "200": {"description": "the QR code as a PNG, or its payload as JSON", "content": {
                "image/png": {"schema": {"type": "string", "format": "binary"}},
                "application/json": {"schema": _ref("Qr")}}},
            **NO_SESSION, "409": _error("the session is not waiting for a login")},
            tag="login", parameters=[SESSION_ID, QR_FORMAT])},
        "/sessions/{id}/pairing-code": {"post": _operation("Log in with a pairing code", {
            "200": _json("PairingCode", "the code to type on the phone"), **NO_SESSION,
            "409": _error("the session is not waiting for a login"),
            "501": _error("the adapter has no pairing-code login"),
            "503": _error("the page did not answer in time")},
            tag="login", parameters=[SESSION_ID], body={"required": True, "content": {
                "application/json": {"schema": _ref("PairingRequest")}}})},
        "/sessions/{id}/screenshot": {"get": _operation("A screenshot of the page now", {
            "200": _png("the page"), **NO_SESSION,
            "503": _error("the page cannot be captured now (within 5 s)")},
            tag="pages", parameters=[SESSION_ID])},
        "/sessions/{id}/incidents": {"get": _operation("A session's incidents, newest first", {
            "200": _json("Incidents", "the incidents kept"), **NO_SESSION},
            tag="pages", parameters=[SESSION_ID])},
        "/incidents/{incident}": {"get": _operation("One incident", {
            "200": _json("Incident", "the incident"),
            "400": _error("a malformed incident id"), "404": _error("no such incident")},
            tag="pages", parameters=[INCIDENT_ID])},
        "/incidents/{incident}/screenshot.png": {"get": _operation(
            "An incident's screenshot", {
                "200": _png("the page at the incident"),
                "400": _error("a malformed incident id"),
                "404": _error("no such incident, or it has no screenshot")},
            tag="pages", parameters=[INCIDENT_ID])},
        "/events": {"get": _operation("The latest lifecycle events, newest first", {
            "200": _json("Events", "the events"), "400": _error("a malformed limit")},
            tag="events", parameters=[_limit(200)])},
        "/webhook": {"get": _operation("The webhook endpoint and the outbox's figures", {
            "200": _json("Webhook", "the figures")}, tag="webhooks")},
        "/overview": {"get": _operation("Everything the dashboard shows, in one answer", {
            "200": _json("Overview", "the overview"), "400": _error("a malformed limit")},
            tag="dashboard", parameters=[_limit(50)])},
        "/reload": {"post": _operation("Re-read the configuration file and apply it", {
            "202": _json("Reloaded", "applied; the session ids by what happened to them"),
            "400": _error("the file is not valid or asks for a change that needs a restart; "
                          "nothing was changed"),
            "404": _error("reload is not enabled"),
            "500": _error("the file was valid but not all of it could be applied"),
            "503": _error("the runtime is shutting down")},
            tag="config", body=OPTIONAL_BODY)},
        "/webhooks": {"get": _operation("Every webhook endpoint: its state and backlog", {
            "200": _json("Endpoints", "the endpoints, in config order (never a secret)"),
            "404": _error("no webhook endpoints on this Warden")}, tag="webhooks")},
        "/webhooks/{endpoint}/events": {"get": _operation(
            "An endpoint's events, oldest first", {
                "200": _json("Deliveries", "the events and their delivery there"),
                **NO_ENDPOINT},
            tag="webhooks", parameters=[ENDPOINT_ID, {
                "name": "state", "in": "query", "required": False,
                "schema": {"enum": DELIVERY_STATES}}, {
                "name": "session", "in": "query", "required": False,
                "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}}, {
                "name": "limit", "in": "query", "required": False,
                "schema": {"type": "integer", "minimum": 1, "maximum": 1000,
                           "default": 100}}])},
        "/webhooks/events/{event_id}": {"get": _operation(
            "One event: its delivery to every endpoint it goes to, with their attempts", {
                "200": _json("EventDeliveries", "the event"),
                "400": _error("a malformed event id"),
                "404": _error("no such event (or forgotten after delivery)")},
            tag="webhooks", parameters=[EVENT_ID])},
        "/webhooks/{endpoint}/replay": {"post": _operation(
            "Deliver again what was delivered since a time (same ids and bytes)", {
                "202": _json("Requeued", "how many deliveries were queued again"),
                **NO_ENDPOINT},
            tag="webhooks", parameters=[ENDPOINT_ID], body={"required": True, "content": {
                "application/json": {"schema": _ref("Replay")}}})},
        "/webhooks/{endpoint}/dead/requeue": {"post": _operation(
            "Queue every dead letter of an endpoint again", {
                "202": _json("Requeued", "how many"), **NO_ENDPOINT},
            tag="webhooks", parameters=[ENDPOINT_ID], body=OPTIONAL_BODY)},
        "/webhooks/{endpoint}/dead/{event_id}/requeue": {"post": _operation(
            "Queue one dead letter again", {
                "202": _json("Requeued", "it is queued again"), **NO_ENDPOINT,
                "409": _error("the event is not a dead letter at this endpoint")},
            tag="webhooks", parameters=[ENDPOINT_ID, EVENT_ID], body=OPTIONAL_BODY)},
        "/demo/webhook": {"post": _operation("The built-in webhook sink", {
            "204": {"description": "the signed event was received"},
            "400": _error("the body is not a JSON object"),
            "401": _error("the signature does not verify"),
            "404": _error("the sink is not enabled")},
            tag="webhooks", security=public, body={"required": True, "content": {
                "application/json": {"schema": {"type": "object"}}}})},
        "/demo/webhook/events": {"get": _operation("What the built-in sink received", {
            "200": _json("Sink", "its counts and latest events, newest first"),
            "400": _error("a malformed limit"), "404": _error("the sink is not enabled")},
            tag="webhooks", parameters=[_limit(100)])},
    }


def _version() -> str:
    try:
        return metadata.version("warden")
    except metadata.PackageNotFoundError:  # run from a source tree that is not installed
        return "unknown"


def describe(*, token: bool, metrics_public: bool) -> Schema:
    """The document for a front with a token (`token`) or without, whose /metrics is public
    or not."""
    bearer: list[dict[str, list[str]]] = [{"bearer": []}] if token else []
    document: Schema = {
        "openapi": "3.1.0",
        "info": {"title": "Warden", "version": _version(),
                 "description": "Supervised headless-browser sessions: their status, commands, "
                                "logins, pages, incidents, lifecycle events and webhooks."},
        "paths": _paths([] if metrics_public else bearer),
        "components": {"schemas": SCHEMAS},
    }
    if token:
        document["security"] = bearer
        document["components"]["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer",
                       "description": "http.token from supervisor.yaml"}}
        for item in document["paths"].values():
            for operation in item.values():
                if operation.get("security") != []:
                    operation["responses"]["401"] = _error("no token or a wrong one")
    return document
