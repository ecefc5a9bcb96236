"""A lane is one session's deliveries to one endpoint: they go in outbox order (hence `seq`
order), one run at a time, and a lane that waits for a retry holds back only itself.

`Lanes` is the pure bookkeeping of one endpoint's lanes, driven by its webhook actor: which
deliveries each lane holds in memory (positions, not bodies; at most `cap`, the rest stay in
the outbox and are loaded as the lane drains), which lanes are busy and which wait and until
when, whether the endpoint is paused, and which lanes may start next on `slots` connections
(the oldest head first, so no session starves). Times are the actor's monotonic seconds.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from actors.outbox_queue import Waiting

__all__ = ["Lane", "Lanes"]


@dataclass(slots=True)
class Lane:
    session_id: str
    queue: deque[Waiting] = field(default_factory=deque)
    busy: bool = False  # a run of it is in flight
    not_before: float = 0.0  # a retry's wait: nothing starts before then
    loaded_to: int = 0  # the highest position ever put in `queue`
    overflow: bool = False  # the outbox holds pending deliveries past `loaded_to`

    @property
    def head(self) -> Waiting | None:
        return self.queue[0] if self.queue else None


class Lanes:
    """The lanes of one endpoint."""

    def __init__(self, slots: int, cap: int) -> None:
        self.slots = slots
        self.cap = cap
        self.lanes: dict[str, Lane] = {}
        self.scanned_to = 0  # every pending delivery up to here was offered to `load`
        self.busy = 0  # lanes with a run in flight
        self.paused_until: float | None = None  # the endpoint is paused until its probe
        self.probe: str | None = None  # the lane whose head probes a paused endpoint
        self.probes = 0  # probes that were refused since the pause began

    # --- filling --------------------------------------------------------------------------------

    def load(self, items: Iterable[Waiting], now: float, wall: float) -> None:
        """Pending deliveries from a scan of the whole endpoint, in outbox order."""
        for item in items:
            self.scanned_to = max(self.scanned_to, item.pos)
            lane = self._lane(item.session_id)
            if item.pos <= lane.loaded_to:
                continue  # already loaded by the lane's own refill
            if lane.overflow or len(lane.queue) >= self.cap:
                lane.overflow = True
                continue
            self._put(lane, item, now, wall)

    def refill(self, session_id: str, items: list[Waiting], asked: int, now: float,
               wall: float) -> None:
        """A lane's own pending deliveries after its `loaded_to` (at most `asked` of them)."""
        lane = self._lane(session_id)
        for item in items:
            if item.pos > lane.loaded_to:
                self._put(lane, item, now, wall)
        lane.overflow = len(items) >= asked

    def to_refill(self) -> list[Lane]:
        """Lanes that have room and more in the outbox."""
        return [lane for lane in self.lanes.values()
                if lane.overflow and not lane.busy and len(lane.queue) <= self.cap // 2]

    def _put(self, lane: Lane, item: Waiting, now: float, wall: float) -> None:
        if not lane.queue and item.next_attempt_at is not None and item.next_attempt_at > wall:
            lane.not_before = max(lane.not_before, now + item.next_attempt_at - wall)
        lane.queue.append(item)
        lane.loaded_to = item.pos

    def _lane(self, session_id: str) -> Lane:
        lane = self.lanes.get(session_id)
        if lane is None:
            lane = self.lanes[session_id] = Lane(session_id)
        return lane

    # --- running --------------------------------------------------------------------------------

    def ready(self, now: float) -> list[Lane]:
        """Lanes that may start a run now, oldest head first, as many as there are free slots."""
        if self.paused_until is not None:
            lane = self.lanes.get(self.probe or "")
            if lane is None or not lane.queue:  # the probe's lane went (a requeue): pick another
                lane = min((candidate for candidate in self.lanes.values() if candidate.queue),
                           key=lambda candidate: candidate.queue[0].pos, default=None)
                self.probe = None if lane is None else lane.session_id
            if now < self.paused_until or lane is None or lane.busy:
                return []
            return [lane]
        free = self.slots - self.busy
        if free <= 0:
            return []
        idle = [lane for lane in self.lanes.values()
                if lane.queue and not lane.busy and lane.not_before <= now]
        idle.sort(key=lambda lane: lane.queue[0].pos)
        return idle[:free]

    def start(self, lane: Lane, size: int) -> list[Waiting]:
        """Mark `lane` busy and give the first `size` of its queue, to be sent in order."""
        lane.busy = True
        self.busy += 1
        return [lane.queue[i] for i in range(min(size, len(lane.queue)))]

    def delivered(self, lane: Lane, pos: int) -> None:
        """The head was delivered (or dead-lettered): the lane moves on."""
        if lane.queue and lane.queue[0].pos == pos:
            lane.queue.popleft()
        if self.probe == lane.session_id:
            self.resume()

    def retry(self, lane: Lane, pos: int, until: float) -> None:
        """The head failed and is tried again at `until`; the lane waits, no other does."""
        if lane.queue and lane.queue[0].pos == pos:
            head = lane.queue[0]
            lane.queue[0] = replace(head, failures=head.failures + 1)
        lane.not_before = until
        if self.probe == lane.session_id:
            self.resume()  # the endpoint answers again; this lane's own schedule goes on

    def pause(self, lane: Lane, until: float) -> None:
        """The endpoint refused (401/403/404/410): every lane waits; `lane` probes at `until`."""
        self.paused_until = until
        self.probe = lane.session_id
        self.probes += 1

    def resume(self) -> None:
        self.paused_until, self.probe, self.probes = None, None, 0

    def finish(self, lane: Lane) -> None:
        """The lane's run ended (its last answer is in)."""
        if lane.busy:
            lane.busy = False
            self.busy -= 1
        if not lane.queue and not lane.overflow and lane.session_id != self.probe:
            del self.lanes[lane.session_id]

    # --- waiting --------------------------------------------------------------------------------

    def next_wake(self, now: float) -> float | None:
        """When a lane that waits may start (monotonic seconds), if one waits."""
        if self.paused_until is not None:
            return self.paused_until if self.paused_until > now else None
        waits = [lane.not_before for lane in self.lanes.values()
                 if lane.queue and not lane.busy and lane.not_before > now]
        return min(waits, default=None)

    @property
    def paused(self) -> bool:
        return self.paused_until is not None
