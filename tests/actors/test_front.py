"""The front answers the HTTP API from the status board, over real loopback HTTP.

The helpers at the top (fake sessions under a real runtime, a fake board, an HTTP caller)
are shared with the dashboard, metrics and control tests.
"""

from __future__ import annotations

import gzip
import http.client
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from actors.demo_sink import DemoSink
from actors.front import Front, FrontActor, FrontDeps, RecentEvents
from actors.front_config import HttpConfig
from actors.routes import MAX_BODY
from runtime import (
    ChildContext,
    ChildSpec,
    ChildState,
    ChildStatus,
    EventBus,
    EventName,
    FakeClock,
    LifecycleEvent,
    Liveness,
    Reason,
    Runtime,
    SupervisedActor,
    Supervisor,
    SupervisorSpec,
)
from runtime.status import StatusBoard
from tests.actors.test_demo_sink import SECRET, event, signed
from tests.actors.test_views import NOW, SESSION_FIELDS, make_status

# --- shared helpers -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hang:
    """Tells a fake session to block its thread until released."""


@dataclass
class Script:
    """How fake sessions behave; shared by all their incarnations."""

    beat_after_restart: bool = True  # False: a restarted session stays `starting`
    hang: bool = False  # block in receive() right after the first heartbeat
    release: threading.Event = field(default_factory=threading.Event)
    hung: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))


class FakeSession(SupervisedActor):
    """Publishes what a browser session would, heartbeats once, and can hang on demand."""

    def __init__(self, ctx: ChildContext, script: Script) -> None:
        super().__init__(ctx)
        self.script = script

    def started(self) -> None:
        self.ctx.publish(adapter="fake", browser_pid=1000 + self.ctx.incarnation,
                         memory_bytes=100 * 2**20, last_canary=self.ctx.clock.time())
        self.ctx.count("events", 5)
        self.ctx.add_kill_hook(self.script.release.set)
        if self.ctx.incarnation == 1 or self.script.beat_after_restart:
            self.ctx.heartbeat()
            self.ctx.activity()
        if self.script.hang:
            self.actor_ref.tell(Hang())

    def receive(self, message: Any) -> Any:
        if isinstance(message, Hang):
            self.script.hung.release()
            self.script.release.wait()
            return None
        return super().receive(message)


@contextmanager
def fake_runtime(ids: Iterable[str], script: Script | None = None,
                 clock: FakeClock | None = None) -> Iterator[Runtime]:
    """A real runtime whose `sessions` supervisor runs fake sessions; all healthy on entry."""
    script = script or Script()
    ids = list(ids)
    events, board = EventBus(), StatusBoard()

    def start(ctx: ChildContext) -> Any:
        return FakeSession.start(ctx, script)

    sessions = SupervisorSpec("sessions", tuple(
        ChildSpec(id=i, start=start, liveness=Liveness(heartbeat_timeout=None),
                  shutdown_timeout=2.0, kind="session") for i in ids))
    root = SupervisorSpec("root", (Supervisor.child_spec(sessions, events, board),))
    runtime = Runtime(root, events=events, board=board, clock=clock).start()
    try:
        assert wait_for_sessions(runtime, lambda ss: len(ss) == len(ids) and all(
            s.state is ChildState.HEALTHY for s in ss)), "fake sessions did not come up"
        yield runtime
    finally:
        script.release.set()
        runtime.stop()


def wait_for_sessions(runtime: Runtime,
                      predicate: Callable[[tuple[ChildStatus, ...]], bool],
                      timeout: float = 10.0) -> bool:
    return runtime.board.wait_for(lambda b: predicate(b.children("sessions")), timeout)


def runtime_deps(runtime: Runtime, **overrides: Any) -> FrontDeps:
    recent = RecentEvents()
    recent.attach(runtime.events)
    fields: dict[str, Any] = {"board": runtime.board, "control": runtime,
                              "root_running": lambda: runtime.running, "events": recent,
                              "clock": runtime.clock}
    fields.update(overrides)
    return FrontDeps(**fields)


class FakeBoard:
    """A status board with fixed snapshots."""

    def __init__(self, sessions: Iterable[ChildStatus] = (),
                 others: Iterable[ChildStatus] = ()) -> None:
        self.sessions = tuple(sessions)
        self.others = tuple(others)

    def children(self, supervisor: str | None = None) -> tuple[ChildStatus, ...]:
        if supervisor == "sessions":
            return self.sessions
        return self.sessions + self.others if supervisor is None else ()

    def of_kind(self, kind: str) -> tuple[ChildStatus, ...]:
        return self.sessions if kind == "session" else ()

    def get(self, child_id: str) -> ChildStatus | None:
        return next((s for s in self.sessions + self.others if s.id == child_id), None)


class FakeControl:
    """Records commands; knows the ids it is given."""

    def __init__(self, known: Iterable[str]) -> None:
        self.known = set(known)
        self.calls: list[tuple[str, str]] = []

    def _do(self, action: str, child_id: str) -> bool:
        self.calls.append((action, child_id))
        return child_id in self.known

    def restart(self, child_id: str) -> bool:
        return self._do("restart", child_id)

    def stop_child(self, child_id: str) -> bool:
        return self._do("stop", child_id)

    def start_child(self, child_id: str) -> bool:
        return self._do("start", child_id)


def fake_deps(sessions: Iterable[ChildStatus] = (), **overrides: Any) -> FrontDeps:
    sessions = tuple(sessions)
    fields: dict[str, Any] = {"board": FakeBoard(sessions),
                              "control": FakeControl(s.id for s in sessions),
                              "clock": FakeClock(start=0.0, wall_epoch=NOW)}
    fields.update(overrides)
    return FrontDeps(**fields)


@contextmanager
def serving(deps: FrontDeps, **config: Any) -> Iterator[Front]:
    front = Front(HttpConfig(**{"port": 0, **config}), deps).start()
    try:
        yield front
    finally:
        front.stop()


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: Any
    headers: Mapping[str, str]
    raw: bytes


def call(method: str, url: str, *, token: str | None = None, data: bytes | None = None,
         headers: Mapping[str, str] | None = None, timeout: float = 10.0) -> Answer:
    """One real HTTP request; any status comes back as an Answer."""
    all_headers = dict(headers or {})
    if token is not None:
        all_headers["Authorization"] = f"Bearer {token}"
    if data is None and method == "POST":
        data = b""
    request = urllib.request.Request(url, method=method, data=data, headers=all_headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw, got = response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        with exc:
            status, raw, got = exc.code, exc.read(), dict(exc.headers)
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = None
    return Answer(status, body, got, raw)


# --- the server's life --------------------------------------------------------------------------


def test_it_refuses_a_non_loopback_listen_without_a_token() -> None:
    with pytest.raises(ValueError, match="without a token"):
        Front(HttpConfig(host="0.0.0.0", port=0), fake_deps())
    Front(HttpConfig(host="0.0.0.0", port=0, token="t0ken"), fake_deps())  # allowed


def test_it_listens_on_a_free_port_and_stop_leaves_nothing_running() -> None:
    before = set(threading.enumerate())
    front = Front(HttpConfig(port=0), fake_deps()).start()
    assert front.port and front.url == f"http://127.0.0.1:{front.port}"
    assert call("GET", front.url + "/healthz").body == {"status": "ok"}
    front.stop()
    assert not [t for t in threading.enumerate() if t not in before]
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(front.url + "/healthz", timeout=5)


def test_a_port_in_use_fails_start_with_the_os_error() -> None:
    with serving(fake_deps()) as first, pytest.raises(OSError):
        Front(HttpConfig(port=first.port or 0), fake_deps()).start()


def test_healthz_follows_the_root_supervisor() -> None:
    running = [True]
    with serving(fake_deps(root_running=lambda: running[0])) as front:
        assert call("GET", front.url + "/healthz").body == {"status": "ok"}
        running[0] = False
        answer = call("GET", front.url + "/healthz")
    assert answer.status == 503
    assert answer.body["status"] != "ok"


def test_healthz_detail_names_what_is_wrong_and_healthz_stays_as_it_was() -> None:
    running = [True]
    gave_up = make_status("acct-2", ChildState.FAILED, restarts=3,
                          last_restart_reason=Reason.CANARY)
    deps = fake_deps([make_status("acct-1"), gave_up], root_running=lambda: running[0])
    with serving(deps) as front:
        degraded = call("GET", front.url + "/healthz/detail")
        plain = call("GET", front.url + "/healthz")
        running[0] = False
        down = call("GET", front.url + "/healthz/detail")
    assert (degraded.status, plain.status, down.status) == (200, 200, 503)
    assert plain.body == {"status": "ok"}  # a liveness probe: a session that gave up is no cause
    assert degraded.body["status"] == "degraded" and down.body["status"] == "down"
    assert degraded.body["problems"] == [
        "acct-2 gave up after 3 restarts (last: canary); start it again once the cause is fixed"]
    assert degraded.body["children"] == {"healthy": 1, "failed": 1}
    assert degraded.body["outbox"] is None  # this front has no outbox


# --- reading sessions ---------------------------------------------------------------------------


def test_sessions_lists_every_session_in_order_with_every_field() -> None:
    statuses = [make_status(f"acct-{i}", last_activity=NOW - i, started_at=NOW - 60)
                for i in (3, 1, 2)]
    with serving(fake_deps(statuses)) as front:
        answer = call("GET", front.url + "/sessions")
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("application/json")
    assert list(answer.body) == ["sessions"]
    assert [s["id"] for s in answer.body["sessions"]] == ["acct-3", "acct-1", "acct-2"]
    for session in answer.body["sessions"]:
        assert set(session) == SESSION_FIELDS
    assert [s["inactive_seconds"] for s in answer.body["sessions"]] == [3.0, 1.0, 2.0]
    assert answer.body["sessions"][0]["uptime_seconds"] == 60.0


def test_one_session_by_id_and_its_accounts_alias() -> None:
    with serving(fake_deps([make_status("acct-1"), make_status("acct-2")])) as front:
        one = call("GET", front.url + "/sessions/acct-2")
        alias = call("GET", front.url + "/accounts/acct-2/status")
    assert one.status == alias.status == 200
    assert one.body["id"] == "acct-2" and set(one.body) == SESSION_FIELDS
    assert alias.body == one.body


@pytest.mark.parametrize("path", ["/sessions/nobody", "/accounts/nobody/status",
                                  "/sessions/webhook"])
def test_an_unknown_session_is_404_json(path: str) -> None:
    others = [make_status("webhook")]
    deps = fake_deps([make_status("acct-1")], board=FakeBoard([make_status("acct-1")], others))
    with serving(deps) as front:
        answer = call("GET", front.url + path)
    assert answer.status == 404
    assert "error" in answer.body


def test_a_malformed_session_id_is_400() -> None:
    with serving(fake_deps([make_status("acct-1")])) as front:
        answer = call("GET", front.url + "/sessions/" + "x" * 65)
    assert answer.status == 400
    assert "malformed" in answer.body["error"]


def test_health_sessions_is_the_seed_summary() -> None:
    statuses = [make_status("a", ChildState.HEALTHY), make_status("b", ChildState.UNHEALTHY),
                make_status("c", ChildState.STOPPED)]
    with serving(fake_deps(statuses)) as front:
        body = call("GET", front.url + "/health/sessions").body
    assert set(body) == {"totalSessions", "healthySessions", "stuckSessions", "sessions"}
    assert (body["totalSessions"], body["healthySessions"], body["stuckSessions"]) == (3, 1, 1)
    assert set(body["sessions"][0]) == {"sessionId", "lastActivity", "inactiveDuration",
                                        "isHealthy", "restartAttempts", "state"}


def test_sessions_answer_at_once_while_every_session_is_hung() -> None:
    ids = [f"acct-{i}" for i in range(4)]
    script = Script(hang=True)
    with fake_runtime(ids, script) as runtime, serving(runtime_deps(runtime)) as front:
        for _ in ids:  # every session's thread is now blocked in receive()
            assert script.hung.acquire(timeout=10)
        for _ in range(3):
            answer = call("GET", front.url + "/sessions", timeout=5)
            assert [s["id"] for s in answer.body["sessions"]] == ids
        assert call("GET", front.url + "/sessions/acct-2", timeout=5).status == 200
        assert call("GET", front.url + "/health/sessions", timeout=5).body["totalSessions"] == 4
        assert call("POST", front.url + "/sessions/acct-1/restart", timeout=5).status == 202


# --- commands -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "action", "message"), [
    ("/sessions/acct-1/restart", "restart", "Session restart initiated"),
    ("/sessions/acct-1/stop", "stop", "Session stop initiated"),
    ("/sessions/acct-1/start", "start", "Session start initiated"),
    ("/accounts/acct-1/restart", "restart", "Session restart initiated"),
    ("/accounts/acct-1/disconnect", "stop", "Session stop initiated"),
])
def test_commands_answer_202_and_reach_the_control(path: str, action: str, message: str) -> None:
    deps = fake_deps([make_status("acct-1")])
    with serving(deps) as front:
        answer = call("POST", front.url + path)
    assert answer.status == 202
    assert answer.body == {"success": True, "message": message, "sessionId": "acct-1"}
    assert deps.control.calls == [(action, "acct-1")]  # type: ignore[attr-defined]


def test_a_command_for_an_unknown_session_is_404_and_reaches_nobody() -> None:
    deps = fake_deps([make_status("acct-1")])
    with serving(deps) as front:
        answer = call("POST", front.url + "/sessions/ghost/restart")
    assert answer.status == 404
    assert deps.control.calls == []  # type: ignore[attr-defined]


def test_restart_stop_and_start_move_a_real_session() -> None:
    with fake_runtime(["acct-1", "acct-2"]) as runtime, \
            serving(runtime_deps(runtime)) as front:
        assert call("POST", front.url + "/sessions/acct-1/restart").status == 202
        assert wait_for_sessions(runtime, lambda ss: ss[0].restarts_total == 1
                                 and ss[0].state is ChildState.HEALTHY)
        session = call("GET", front.url + "/sessions/acct-1").body
        assert (session["restarts_total"], session["last_restart_reason"]) == (1, "manual")
        assert session["browser_pid"] == 1002  # the second incarnation published it

        assert call("POST", front.url + "/accounts/acct-2/disconnect").status == 202
        assert wait_for_sessions(runtime, lambda ss: ss[1].state is ChildState.STOPPED)
        assert call("GET", front.url + "/sessions/acct-2").body["state"] == "stopped"
        assert call("POST", front.url + "/sessions/acct-2/start").status == 202
        assert wait_for_sessions(runtime, lambda ss: ss[1].state is ChildState.HEALTHY)
        assert call("GET", front.url + "/sessions/acct-1").body["state"] == "healthy"
        names = [e["name"] for e in call("GET", front.url + "/events").body["events"]]
        assert EventName.CHILD_STOPPED in names and EventName.RESTART_SCHEDULED in names


# --- input and errors ---------------------------------------------------------------------------


def test_unknown_routes_and_wrong_methods_answer_json() -> None:
    with serving(fake_deps([make_status("acct-1")])) as front:
        missing = call("GET", front.url + "/no/such/thing")
        wrong = call("DELETE", front.url + "/sessions")
        get_a_command = call("GET", front.url + "/sessions/acct-1/restart")
    assert (missing.status, wrong.status, get_a_command.status) == (404, 405, 405)
    for answer in (missing, wrong, get_a_command):
        assert isinstance(answer.body["error"], str)
    assert "GET" in wrong.headers["Allow"]


def test_a_body_over_64_kib_is_413_and_a_malformed_one_400() -> None:
    deps = fake_deps([make_status("acct-1")])
    url = "/sessions/acct-1/restart"
    with serving(deps) as front:
        too_big = call("POST", front.url + url, data=b"{" + b" " * MAX_BODY + b"}",
                       headers={"Content-Type": "application/json"})
        malformed = call("POST", front.url + url, data=b"{not json",
                         headers={"Content-Type": "application/json"})
        not_an_object = call("POST", front.url + url, data=b"[]")
        just_fits = call("POST", front.url + url, data=b"{}" + b" " * (MAX_BODY - 2))
    assert too_big.status == 413 and "error" in too_big.body
    assert malformed.status == 400 and "error" in malformed.body
    assert not_an_object.status == 400
    assert just_fits.status == 202
    assert deps.control.calls == [("restart", "acct-1")]  # type: ignore[attr-defined]


@pytest.mark.parametrize("path", ["/sessions/acct-1/stop", "/demo/webhook"])
def test_a_body_that_cannot_be_decoded_or_nests_too_deep_is_400(path: str) -> None:
    deps = fake_deps([make_status("acct-1")], sink=DemoSink(SECRET))
    deep = b"[" * 30_000 + b"]" * 30_000
    with serving(deps) as front:
        not_gzip = call("POST", front.url + path, data=b"{}",
                        headers={"Content-Encoding": "gzip"})
        too_deep = call("POST", front.url + path, data=deep, headers=signed(deep))
        assert deps.control.calls == []  # type: ignore[attr-defined]
        if path == "/demo/webhook":
            body = event(1)
            good = call("POST", front.url + path, data=gzip.compress(body),
                        headers={"Content-Encoding": "gzip", **signed(body)})
        else:
            good = call("POST", front.url + path, data=gzip.compress(b"{}"),
                        headers={"Content-Encoding": "gzip"})
    for answer in (not_gzip, too_deep):
        assert answer.status == 400, answer
        assert isinstance(answer.body["error"], str)
    assert good.status in (202, 204)


def test_after_an_unreadable_body_a_keep_alive_client_is_told_the_connection_ends() -> None:
    with serving(fake_deps([make_status("acct-1")])) as front:
        connection = http.client.HTTPConnection("127.0.0.1", front.port, timeout=10)
        try:
            connection.request("POST", "/sessions/acct-1/stop", body=b"{}",
                               headers={"Content-Encoding": "gzip"})
            answer = connection.getresponse()
            answer.read()
        finally:
            connection.close()
    assert answer.status == 400
    assert answer.will_close  # the server says `Connection: close`: no reuse, no reset


@pytest.mark.parametrize("path", ["/events", "/demo/webhook/events", "/overview"])
@pytest.mark.parametrize("limit", ["%C2%B2", "%D9%A3", "0", "-1", "1.5", "", "9" * 10,
                                   "9" * 5000],
                         ids=["superscript-2", "arabic-3", "0", "-1", "1.5", "empty",
                              "ten-digits", "5000-digits"])
def test_a_limit_that_is_not_a_small_positive_whole_number_is_400(path: str, limit: str) -> None:
    with serving(fake_deps(sink=DemoSink(SECRET))) as front:
        answer = call("GET", f"{front.url}{path}?limit={limit}")
        fine = call("GET", f"{front.url}{path}?limit=999999999")
    assert answer.status == 400 and "limit" in answer.body["error"]
    assert fine.status == 200


def test_a_session_id_with_a_final_newline_is_malformed() -> None:
    deps = fake_deps([make_status("acct-1")])
    with serving(deps) as front:
        read = call("GET", front.url + "/sessions/acct-1%0A")
        command = call("POST", front.url + "/sessions/acct-1%0A/stop")
    assert read.status == command.status == 400
    assert deps.control.calls == []  # type: ignore[attr-defined]


# --- authentication -----------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/sessions"), ("GET", "/sessions/acct-1"), ("POST", "/sessions/acct-1/restart"),
    ("GET", "/health/sessions"), ("GET", "/accounts/acct-1/status"), ("GET", "/events"),
    ("GET", "/overview"), ("GET", "/webhook"), ("GET", "/demo/webhook/events"),
    ("GET", "/healthz/detail"),
])
def test_the_api_needs_the_bearer_token(method: str, path: str) -> None:
    deps = fake_deps([make_status("acct-1")], sink=DemoSink(SECRET))
    with serving(deps, token="s3cret") as front:
        missing = call(method, front.url + path)
        wrong = call(method, front.url + path, token="s3cres")
        right = call(method, front.url + path, token="s3cret")
    assert missing.status == wrong.status == 401
    assert "error" in missing.body and "error" in wrong.body
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    assert right.status in (200, 202)
    assert deps.control.calls == ([("restart", "acct-1")]  # type: ignore[attr-defined]
                                  if method == "POST" else [])


def test_probes_the_page_and_its_files_need_no_token() -> None:
    with serving(fake_deps(), token="s3cret") as front:
        page = call("GET", front.url + "/")
        script = call("GET", front.url + "/static/app.js")
        style = call("GET", front.url + "/static/style.css")
        assert call("GET", front.url + "/healthz").status == 200
    assert page.status == 200 and b"<title>Warden</title>" in page.raw
    assert script.status == 200 and b"overview" in script.raw
    assert style.status == 200 and style.headers["Content-Type"].startswith("text/css")


@pytest.mark.parametrize("name", ["nothing.js", "index.html", "..%2Froutes.py", "%2Fetc%2Fpasswd"])
def test_only_the_dashboards_files_are_served_and_anything_else_is_a_json_404(name: str) -> None:
    with serving(fake_deps()) as front:
        answer = call("GET", front.url + "/static/" + name)
    assert answer.status == 404 and "error" in answer.body, answer.raw


def test_metrics_need_the_token_only_when_not_public() -> None:
    from prometheus_client import CollectorRegistry

    deps = fake_deps(registry=CollectorRegistry())
    with serving(deps, token="s3cret", metrics_public=True) as front:
        assert call("GET", front.url + "/metrics").status == 200
    with serving(deps, token="s3cret", metrics_public=False) as front:
        assert call("GET", front.url + "/metrics").status == 401
        assert call("GET", front.url + "/metrics", token="s3cret").status == 200


# --- browsers on other sites --------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/sessions", "/demo/webhook/events", "/", "/healthz"])
def test_a_foreign_host_is_refused_so_a_rebound_name_reads_nothing(path: str) -> None:
    deps = fake_deps([make_status("acct-1")], sink=DemoSink(SECRET))
    with serving(deps) as front:
        port = front.port
        refused = [call("GET", front.url + path, headers={"Host": host})
                   for host in ("evil.example", f"evil.example:{port}", f"127.0.0.1:{port + 1}",
                                "127.0.0.1", f"localhost.evil.example:{port}")]
        allowed = [call("GET", front.url + path, headers={"Host": host})
                   for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LocalHost:{port}",
                                f"[::1]:{port}")]
    for answer in refused:
        assert answer.status == 403 and "Host" in answer.body["error"]
        assert b"acct-1" not in answer.raw
    assert [a.status for a in allowed] == [200] * len(allowed)


def test_a_cross_site_post_is_refused_and_reaches_nobody() -> None:
    deps = fake_deps([make_status("acct-1")])
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    with serving(deps) as front:
        url = front.url + "/sessions/acct-1/stop"
        refused = [call("POST", url, headers={**form, **extra}) for extra in (
            {"Origin": "http://evil.example"},
            {"Origin": "null"},
            {"Origin": f"http://127.0.0.1:{(front.port or 0) + 1}"},  # another local server
            {"Sec-Fetch-Site": "cross-site"},
            {"Sec-Fetch-Site": "same-site"},
            {"Origin": front.url, "Sec-Fetch-Site": "cross-site"},
        )]
        assert deps.control.calls == []  # type: ignore[attr-defined]
        same_origin = call("POST", url, headers={"Origin": front.url,
                                                 "Sec-Fetch-Site": "same-origin"})
        no_browser = call("POST", url)  # the CLI sends neither header
        foreign_read = call("GET", front.url + "/sessions", headers={"Origin": "http://evil"})
    for answer in refused:
        assert answer.status == 403 and isinstance(answer.body["error"], str)
    assert same_origin.status == no_browser.status == 202
    assert foreign_read.status == 200  # a read: the browser keeps the answer from the page
    assert deps.control.calls == [("stop", "acct-1")] * 2  # type: ignore[attr-defined]


def test_with_a_token_cross_site_posts_are_refused_and_hosts_still_checked_on_loopback() -> None:
    deps = fake_deps([make_status("acct-1")])
    with serving(deps, token="s3cret") as front:
        url = front.url + "/sessions/acct-1/restart"
        cross = call("POST", url, token="s3cret", headers={"Origin": "http://evil.example"})
        rebound = call("GET", front.url + "/sessions", token="s3cret",
                       headers={"Host": "evil.example"})
        assert call("POST", url, token="s3cret").status == 202
    assert cross.status == rebound.status == 403
    assert deps.control.calls == [("restart", "acct-1")]  # type: ignore[attr-defined]


# --- the demo sink, events, webhook -------------------------------------------------------------


def test_the_demo_sink_takes_signed_deliveries_and_lists_them() -> None:
    sink = DemoSink(SECRET)
    with serving(fake_deps(sink=sink), token="s3cret") as front:
        body = event(1)
        good = call("POST", front.url + "/demo/webhook", data=body, headers=signed(body))
        bad = call("POST", front.url + "/demo/webhook", data=event(2), headers=signed(body))
        unsigned = call("POST", front.url + "/demo/webhook", data=body)
        listed = call("GET", front.url + "/demo/webhook/events", token="s3cret").body
    assert good.status == 204
    assert bad.status == unsigned.status == 401 and "error" in bad.body
    assert (listed["accepted"], listed["rejected"]) == (1, 2)
    assert [(e["type"], e["session_id"], e["seq"]) for e in listed["events"]] == [
        ("message.received", "acct-1", 1)]


def test_without_a_sink_the_demo_routes_are_404() -> None:
    with serving(fake_deps()) as front:
        assert call("POST", front.url + "/demo/webhook", data=b"{}").status == 404


@dataclass(frozen=True, slots=True)
class Stats:
    pending: int
    oldest_age_seconds: float | None
    dead_letters: int
    delivered: int


class Outbox:
    def __init__(self) -> None:
        self.figures = Stats(3, 42.0, 1, 17)

    def stats(self) -> Stats:
        return self.figures


def test_webhook_state_joins_the_board_and_the_outbox() -> None:
    webhook = make_status("webhook", details={"endpoint_state": "paused",
                                              "paused_reason": "HTTP 410 Gone"})
    deps = fake_deps(board=FakeBoard([], [webhook]), outbox=Outbox())
    with serving(deps) as front:
        body = call("GET", front.url + "/webhook").body
        overview = call("GET", front.url + "/overview").body
    assert body == {"state": "healthy", "endpoint_state": "paused",
                    "paused_reason": "HTTP 410 Gone", "pending": 3, "oldest_age_seconds": 42.0,
                    "dead_letters": 1, "delivered": 17}
    assert overview["webhook"] == body


def test_recent_events_are_bounded_and_newest_first() -> None:
    recent = RecentEvents(capacity=3)
    bus = EventBus()
    unsubscribe = recent.attach(bus)
    for i in range(5):
        bus.emit(LifecycleEvent(EventName.CHILD_STARTED, "sessions", f"s{i}", NOW + i))
    unsubscribe()
    bus.emit(LifecycleEvent(EventName.CHILD_STARTED, "sessions", "late", NOW + 9))
    with serving(fake_deps(events=recent)) as front:
        body = call("GET", front.url + "/events").body
        limited = call("GET", front.url + "/events?limit=1").body
        bad = call("GET", front.url + "/events?limit=-1")
    assert [e["child"] for e in body["events"]] == ["s4", "s3", "s2"]
    assert [e["child"] for e in limited["events"]] == ["s4"]
    assert bad.status == 400


def test_the_overview_carries_everything_the_dashboard_shows() -> None:
    sink = DemoSink(SECRET)
    deps = fake_deps([make_status("acct-1")], sink=sink, outbox=Outbox())
    with serving(deps) as front:
        body = call("GET", front.url + "/overview").body
    assert set(body) == {"now", "running", "sessions", "events", "webhook", "webhooks", "sink"}
    assert body["now"] == "2027-01-15T08:00:00.000Z"
    assert [s["id"] for s in body["sessions"]] == ["acct-1"]
    assert body["sink"]["accepted"] == 0


# --- as a supervised child ----------------------------------------------------------------------


def test_the_front_actor_serves_and_heartbeats_as_a_child() -> None:
    events, board = EventBus(), StatusBoard()
    holder: dict[str, Runtime] = {}

    def deps() -> FrontDeps:
        runtime = holder["runtime"]
        return FrontDeps(board=board, control=runtime, root_running=lambda: runtime.running)

    spec = FrontActor.child_spec(HttpConfig(port=0), deps)
    root = SupervisorSpec("root", (spec,), tick=0.2)
    runtime = holder["runtime"] = Runtime(root, events=events, board=board)
    runtime.start()
    try:
        assert board.wait_for(lambda b: (s := b.get("front")) is not None
                              and s.state is ChildState.HEALTHY and "url" in s.details, 10)
        status = board.get("front")
        assert status is not None
        first_beat = status.last_heartbeat
        url = status.details["url"]
        assert call("GET", url + "/healthz").body == {"status": "ok"}
        assert board.wait_for(lambda b: (s := b.get("front")) is not None
                              and s.last_heartbeat != first_beat, 10), "no further heartbeat"
    finally:
        runtime.stop()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "/healthz", timeout=5)


def test_deps_for_a_warden_run_record_events_and_verify_with_the_webhook_secret() -> None:
    bus = EventBus()
    deps = FrontDeps.build(sink_secret=SECRET, board=FakeBoard(), events=bus,
                           control=FakeControl(()))
    bus.emit(LifecycleEvent(EventName.CHILD_STARTED, "sessions", "acct-1", NOW))
    assert [e.child for e in deps.events.latest()] == ["acct-1"]
    assert deps.sink is not None
    assert deps.sink.receive(event(1), signed(event(1))).seq == 1


def test_a_failing_handler_answers_500_json_and_the_server_keeps_serving() -> None:
    class BrokenBoard(FakeBoard):
        def of_kind(self, kind: str) -> tuple[ChildStatus, ...]:
            raise RuntimeError("board exploded")

    with serving(fake_deps(board=BrokenBoard())) as front:
        answer = call("GET", front.url + "/sessions")
        assert call("GET", front.url + "/healthz").status == 200
    assert answer.status == 500
    assert "error" in answer.body and "exploded" not in answer.body["error"]
