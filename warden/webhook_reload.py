"""A webhook renewal applies a changed webhook config to the running tree, losing no event.

Events wait in the durable outbox, never in the webhook actor: restarting the actor with the new
config keeps every queued event, and a POST cut short by the restart is sent again (delivery is
at least once; receivers dedupe on `webhook-id`). This is the one seam a reload uses for
webhooks; with several endpoints it receives their lists, and adds, removes or renews one
actor per endpoint the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future

from actors.demo_sink import DemoSink
from actors.outbox import Outbox
from actors.webhook import DeliveryObserver, WebhookConfig
from runtime import Runtime
from warden.tree import webhook_spec

__all__ = ["WebhookRenewal"]


class WebhookRenewal:
    """Renews the webhook actor of `runtime` when the webhook config changes."""

    def __init__(self, runtime: Runtime, outbox: Outbox, observer: DeliveryObserver | None,
                 sink: DemoSink | None = None) -> None:
        self._runtime = runtime
        self._outbox = outbox
        self._observer = observer
        self._sink = sink

    def __call__(self, old: WebhookConfig, new: WebhookConfig) -> Sequence[Future[None]]:
        """Ask for the change from `old` to `new`; the futures of the tree changes asked for."""
        if new == old:
            return ()
        if self._sink is not None and new.secret != old.secret:
            # Before the new actor signs anything: the built-in sink checks the new secret.
            self._sink.rekey(new.secret)
        return (self._runtime.replace_child(webhook_spec(self._outbox, new, self._observer)),)
