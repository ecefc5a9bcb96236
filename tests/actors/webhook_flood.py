"""A runtime with one webhook actor, for kill -9 tests: it floods the outbox or only delivers.

    python tests/actors/webhook_flood.py STATE_DIR URL flood    # append forever while delivering
    python tests/actors/webhook_flood.py STATE_DIR URL deliver  # deliver the backlog, then exit 0

In `flood` mode, threads append events in a loop and print `accepted ID SESSION SEQ` on stdout
only after `append()` has returned, i.e. after the commit: every printed id is a promise.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from actors.outbox import FILE_NAME, Outbox
from actors.webhook import WebhookActor, WebhookConfig
from runtime import ChildSpec, Liveness, Runtime, SupervisorSpec

SECRET = "whsec_d2FyZGVuLWNyYXNoLXRlc3Qtc2VjcmV0LWtleQ=="
APPENDERS = 3
SESSIONS = 4


def main(state_dir: str, url: str, mode: str) -> int:
    outbox = Outbox(Path(state_dir) / FILE_NAME)
    config = WebhookConfig(url=url, secret=SECRET, timeout=5.0,
                           schedule=(0.0, 0.1, 0.2, 0.5, 1.0, 1.0, 1.0, 1.0), jitter=0.0)
    spec = SupervisorSpec("root", (ChildSpec(
        "webhook", lambda ctx: WebhookActor.start(ctx, outbox, config),
        liveness=Liveness(heartbeat_timeout=config.timeout + 10)),))
    runtime = Runtime(spec).start()
    if mode == "flood":
        printing = threading.Lock()

        def flood(n: int) -> None:
            i = 0
            while True:
                event = outbox.append(f"s{(n + i) % SESSIONS}", "message.received",
                                      {"appender": n, "i": i})
                with printing:
                    sys.stdout.write(f"accepted {event.id} {event.session_id} {event.seq}\n")
                    sys.stdout.flush()
                i += 1

        for n in range(APPENDERS):
            threading.Thread(target=flood, args=(n,), daemon=True).start()
        runtime.wait()  # until killed
        return 1
    deadline = time.monotonic() + 60
    while outbox.endpoint("default").stats().pending and time.monotonic() < deadline:
        time.sleep(0.05)
    drained = outbox.endpoint("default").stats().pending == 0
    runtime.stop()
    outbox.close()
    print("drained" if drained else "not drained", flush=True)
    return 0 if drained else 1


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:4]))
