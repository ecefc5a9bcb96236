"""A poster sends one endpoint's signed webhook POSTs on a private asyncio loop in its own thread,
one run per lane, up to `connections` lanes at once.

The webhook actor hands it runs: a few pending deliveries of one session, in order. The poster
POSTs a run's events one after another and stops at the first answer that is not 2xx, so a
lane's head always blocks what follows it in that lane, and only there. Answers are kept in a
list the actor takes (`take`) when told there is something new; nothing lives only in the
actor's mailbox, so answers that came in while the actor stops are still recorded (`drain`).
The actor's own thread never waits on the network: it keeps reading its mailbox (heartbeats,
stop) while POSTs are in flight. Handing the loop whole runs and the actor answers 32 at a time
(or when a run ends), instead of every event across threads and back, took deliveries to a
loopback receiver from 1,400/s to 2,950/s (bench/bench_webhook.py on 2 shared cores).

An answer counts only when it was read whole: a 2xx whose body is cut short (the connection
closed before its Content-Length) or runs past `BODY_LIMIT` is no delivery. Each attempt is
signed just before it is sent, with the real wall clock: receivers compare `webhook-timestamp`
with their own clocks, so a test's fake clock must never leak into it. Redirects are never
followed; every attempt has a total timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import aiohttp

from actors.delivery import AttemptResult, parse_retry_after
from actors.signing import Signer
from actors.webhook_event import StoredEvent
from runtime.loop_thread import LoopThread

__all__ = ["BODY_LIMIT", "REPORT_EVERY", "Answered", "Poster"]

logger = logging.getLogger(__name__)

BODY_LIMIT = 2**20  # answer bytes read at most; a longer answer is not read whole
_ERROR_BODY_CHARS = 200  # how much of an error answer is kept for operators
_ERROR_CHARS = 300  # how much of a client error's text is kept
_CHUNK = 64 * 1024
REPORT_EVERY = 32  # answers gathered before the actor is told, unless a run ends first


@dataclass(frozen=True, slots=True)
class Answered:
    """The answer to one attempt of a run; `last` when the run ends with it."""

    lane: str
    event: StoredEvent
    result: AttemptResult
    at: float  # wall seconds, when the attempt began
    last: bool


def _nothing() -> None:
    pass


class Poster:
    """Owns the loop thread and the aiohttp session; `close()` frees both."""

    def __init__(self, url: str, signer: Signer, timeout: float, *, connections: int = 1,
                 notify: Callable[[], None] = _nothing,
                 wall: Callable[[], float] = time.time, name: str = "warden-webhook-http") -> None:
        self._url = url
        self._signer = signer
        self._timeout = timeout
        self._connections = connections
        self._notify = notify
        self._wall = wall
        self._thread = LoopThread(name)
        self._session: aiohttp.ClientSession | None = None
        self._lock = threading.Lock()
        self._answers: list[Answered] = []
        self._told = False  # notified of answers not yet taken
        self._runs: set[asyncio.Task[None]] = set()  # on the loop thread only
        self._draining = False

    def start(self) -> None:
        self._thread.start()
        self._thread.run(self._open(), timeout=10)

    async def _open(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self._timeout),
            # kept-alive sockets, one per lane in flight
            connector=aiohttp.TCPConnector(limit=self._connections),
            headers={"User-Agent": "warden-webhook/1", "Content-Type": "application/json"},
            auto_decompress=False,
        )

    # --- runs (any thread) ----------------------------------------------------------------------

    def submit(self, lane: str, events: Sequence[StoredEvent]) -> None:
        """POST `events` in order until one is not answered 2xx."""
        self._thread.call_soon(lambda: self._spawn(lane, tuple(events)))

    def _spawn(self, lane: str, events: tuple[StoredEvent, ...]) -> None:
        task = asyncio.get_running_loop().create_task(self._run(lane, events))
        self._runs.add(task)
        task.add_done_callback(self._runs.discard)

    def take(self) -> list[Answered]:
        """The answers that came in since the last `take`, each run's in order."""
        with self._lock:
            answers, self._answers, self._told = self._answers, [], False
        return answers

    def drain(self, grace: float) -> list[Answered]:
        """Start no further attempt, wait up to `grace` seconds for those in flight, then
        cancel what is left; returns every answer not yet taken."""
        self._draining = True
        with contextlib.suppress(RuntimeError, TimeoutError):  # the loop is gone or stuck
            self._thread.run(self._settle(grace), timeout=grace + 1.0)
        return self.take()

    async def _settle(self, grace: float) -> None:
        runs = set(self._runs)
        if runs:
            await asyncio.wait(runs, timeout=grace)
        for run in self._runs:
            run.cancel()

    async def _run(self, lane: str, events: tuple[StoredEvent, ...]) -> None:
        for index, event in enumerate(events):
            if self._draining:
                return
            at = self._wall()
            try:
                result = await self.post(event)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug here must not leave the lane busy for ever
                logger.exception("webhook attempt for %s failed unexpectedly", event.id)
                result = AttemptResult(None, f"unexpected error: {type(exc).__name__}: {exc}")
            last = not result.ok or index == len(events) - 1
            with self._lock:
                self._answers.append(Answered(lane, event, result, at, last))
                tell = not self._told and (last or len(self._answers) >= REPORT_EVERY)
                self._told = self._told or tell
            if tell:
                self._notify()
            if last:
                return

    # --- one attempt (the loop thread) ----------------------------------------------------------

    async def post(self, event: StoredEvent) -> AttemptResult:
        """One signed attempt at delivering `event`; never raises for network trouble."""
        assert self._session is not None, "Poster.start() first"
        headers = self._signer.headers(event.id, event.body, int(self._wall()))
        # A duration for metrics, not a decision: the real monotonic clock is what is wanted.
        began = time.perf_counter()
        status: int | None = None
        try:
            async with self._session.post(self._url, data=event.body, headers=headers,
                                          allow_redirects=False) as response:
                status = response.status
                head, size = await _read(response)
                retry_after = parse_retry_after(response.headers.get("Retry-After"),
                                                self._wall(), response.headers.get("Date"))
                location = response.headers.get("Location")
        except TimeoutError:
            return AttemptResult(None, _with_status(status, f"timed out after {self._timeout:g}s"),
                                 seconds=time.perf_counter() - began)
        except aiohttp.ClientError as exc:
            return AttemptResult(None, _with_status(status, _describe(exc)),
                                 seconds=time.perf_counter() - began)
        seconds = time.perf_counter() - began
        if size > BODY_LIMIT:
            return AttemptResult(None, f"HTTP {status} with an answer over {BODY_LIMIT} bytes:"
                                 " not read whole", retry_after, seconds)
        if 200 <= status < 300:
            return AttemptResult(status, seconds=seconds)
        text = head[:_ERROR_BODY_CHARS].decode("utf-8", "replace").strip()
        error = f"HTTP {status}" + (f": {text}" if text else "")
        if 300 <= status < 400 and location is not None:
            error = f"HTTP {status} redirect to {location[:_ERROR_CHARS]} (not followed)"
        return AttemptResult(status, error, retry_after, seconds)

    def close(self, timeout: float = 5.0) -> None:
        """Cancel the runs, close the session and stop the loop thread. Idempotent."""
        self._draining = True
        if not self._thread.stop(timeout, last=self._close):
            logger.warning("webhook HTTP loop did not stop within %.0fs", timeout)

    async def _close(self) -> None:
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None


async def _read(response: aiohttp.ClientResponse) -> tuple[bytes, int]:
    """Read the answer to its end, or past `BODY_LIMIT`: its first bytes and its size. Raises
    ClientPayloadError when the receiver closes before the end it announced."""
    head = b""
    size = 0
    while size <= BODY_LIMIT:
        chunk = await response.content.read(_CHUNK)
        if not chunk:
            break
        if len(head) < _ERROR_BODY_CHARS:
            head += chunk[:_ERROR_BODY_CHARS]
        size += len(chunk)
    return head, size


def _with_status(status: int | None, error: str) -> str:
    """An error met after the status line came: say which, so a cut-short 2xx is plain."""
    return error if status is None else f"HTTP {status}, then {error}"


def _describe(exc: aiohttp.ClientError) -> str:
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect to {exc.host}:{exc.port}: {exc.os_error.strerror or exc.os_error}"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the receiver closed the connection before its answer was complete"
    text = str(exc) or type(exc).__name__
    text = text if text == type(exc).__name__ else f"{type(exc).__name__}: {text}"
    return " ".join(text.split())[:_ERROR_CHARS]
