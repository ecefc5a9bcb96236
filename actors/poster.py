"""A poster sends signed webhook POSTs one at a time, on a private asyncio loop in its own thread.

The webhook actor hands it a run: a few pending events in delivery order. The poster POSTs
them one after another, reporting each answer, and stops at the first one that is not 2xx, so
the head of the queue always blocks what follows it. The actor's own thread never waits on the
network: it keeps reading its mailbox (heartbeats, stop) while a POST is in flight. Running a
whole run on the loop and reporting answers 32 at a time, instead of handing every event across
threads and back, took deliveries to a loopback receiver from 1,400/s to 2,950/s
(bench/bench_webhook.py on 2 shared cores; a bare aiohttp loop did 3,780/s in the same run).

Each attempt is signed just before it is sent, with the real wall clock: receivers compare
`webhook-timestamp` with their own clocks, so a test's fake clock must never leak into it.
Redirects are never followed; every attempt has a total timeout.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import aiohttp

from actors.delivery import AttemptResult, parse_retry_after
from actors.signing import Signer
from actors.webhook_event import StoredEvent
from runtime.loop_thread import LoopThread

__all__ = ["Attempted", "Poster"]

logger = logging.getLogger(__name__)

_ERROR_BODY_CHARS = 200  # how much of an error answer is kept for operators
_READ_LIMIT = 64 * 1024  # answer bytes read before the connection is reused or dropped
REPORT_EVERY = 32  # answers per report to the actor while a run keeps succeeding


@dataclass(frozen=True, slots=True)
class Attempted:
    """Answers to some attempts of a run, in order; `last` when the run ends with the final one.

    Every answer but the final one is a 2xx (a run stops at the first other answer).
    """

    run: int
    answers: tuple[tuple[StoredEvent, AttemptResult], ...]
    last: bool


class Poster:
    """Owns the loop thread and the aiohttp session; `close()` frees both."""

    def __init__(self, url: str, signer: Signer, timeout: float,
                 wall: Callable[[], float] = time.time, name: str = "warden-webhook-http") -> None:
        self._url = url
        self._signer = signer
        self._timeout = timeout
        self._wall = wall
        self._thread = LoopThread(name)
        self._session: aiohttp.ClientSession | None = None
        self._run: concurrent.futures.Future[None] | None = None

    def start(self) -> None:
        self._thread.start()
        self._thread.run(self._open(), timeout=10)

    async def _open(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self._timeout),
            connector=aiohttp.TCPConnector(limit=1),  # one POST at a time, on a kept-alive socket
            headers={"User-Agent": "warden-webhook/1", "Content-Type": "application/json"},
            auto_decompress=False,
        )

    def submit(self, run: int, events: Sequence[StoredEvent],
               report: Callable[[Attempted], None]) -> None:
        """POST `events` in order until one is not answered 2xx; `report` gets every answer
        (on the loop thread; it must be quick, e.g. a `tell`)."""
        self._run = self._thread.submit(self._deliver(run, events, report))

    async def _deliver(self, run: int, events: Sequence[StoredEvent],
                       report: Callable[[Attempted], None]) -> None:
        answers: list[tuple[StoredEvent, AttemptResult]] = []
        for index, event in enumerate(events):
            try:
                result = await self.post(event)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug here must not leave the actor waiting forever
                logger.exception("webhook attempt for %s failed unexpectedly", event.id)
                result = AttemptResult(None, f"unexpected error: {type(exc).__name__}: {exc}")
            answers.append((event, result))
            last = not result.ok or index == len(events) - 1
            if last or len(answers) >= REPORT_EVERY:
                report(Attempted(run, tuple(answers), last))
                answers = []
            if last:
                return

    async def post(self, event: StoredEvent) -> AttemptResult:
        """One signed attempt at delivering `event`; never raises for network trouble."""
        assert self._session is not None, "Poster.start() first"
        headers = self._signer.headers(event.id, event.body, int(self._wall()))
        # A duration for metrics, not a decision: the real monotonic clock is what is wanted.
        began = time.perf_counter()
        try:
            async with self._session.post(self._url, data=event.body, headers=headers,
                                          allow_redirects=False) as response:
                answer = await response.content.read(_READ_LIMIT)
                status = response.status
                retry_after = parse_retry_after(response.headers.get("Retry-After"),
                                                self._wall(), response.headers.get("Date"))
        except TimeoutError:
            return AttemptResult(None, f"timed out after {self._timeout:g}s",
                                 seconds=time.perf_counter() - began)
        except aiohttp.ClientError as exc:
            return AttemptResult(None, _describe(exc), seconds=time.perf_counter() - began)
        seconds = time.perf_counter() - began
        if 200 <= status < 300:
            return AttemptResult(status, seconds=seconds)
        text = answer[:_ERROR_BODY_CHARS].decode("utf-8", "replace").strip()
        error = f"HTTP {status}" + (f": {text}" if text else "")
        if 300 <= status < 400 and "Location" in response.headers:
            error = f"HTTP {status} redirect to {response.headers['Location']} (not followed)"
        return AttemptResult(status, error, retry_after, seconds)

    def cancel(self) -> None:
        """Abandon the run in flight, if any; no more answers are reported for it."""
        if self._run is not None:
            self._run.cancel()
            self._run = None

    def close(self, timeout: float = 5.0) -> None:
        """Cancel the run, close the session and stop the loop thread. Idempotent."""
        self.cancel()
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


def _describe(exc: aiohttp.ClientError) -> str:
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect to {exc.host}:{exc.port}: {exc.os_error.strerror or exc.os_error}"
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text != type(exc).__name__ else text
