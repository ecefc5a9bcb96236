"""A webhook renewal applies changed webhook endpoints to the running tree, losing no event.

Events wait in the durable outbox, never in a webhook actor: an endpoint that is added gets an
actor of its own, one that goes has its actor stopped and removed (its undelivered events stay
in the outbox until an endpoint of that id comes back), and one whose settings changed has its
actor restarted from them (a POST cut short by the restart is sent again: delivery is at least
once; receivers dedupe on `webhook-id`). The outbox routes new events by the new endpoints from
the moment the renewal is asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future

from actors.demo_sink import DemoSink
from actors.webhook import DeliveryObserver, child_id
from actors.webhooks import Webhooks
from runtime import Runtime
from warden.config import Config
from warden.tree import ROOT, webhook_spec

__all__ = ["WebhookRenewal"]


class WebhookRenewal:
    """Adds, removes and renews the webhook actors of `runtime` as the endpoints change."""

    def __init__(self, runtime: Runtime, webhooks: Webhooks, observer: DeliveryObserver | None,
                 sink: DemoSink | None = None) -> None:
        self._runtime = runtime
        self._webhooks = webhooks
        self._observer = observer
        self._sink = sink

    def __call__(self, old: Config, new: Config) -> Sequence[Future[None]]:
        """Ask for the change from the endpoints of `old` to those of `new`; the futures of the
        tree changes asked for."""
        if new.webhooks == old.webhooks:
            return ()
        if self._sink is not None and new.webhook.secret != old.webhook.secret:
            # Before a new actor signs anything: the built-in sink checks the new secret.
            self._sink.rekey(new.webhook.secret)
        self._webhooks.set_endpoints(new.webhooks)
        before = {e.id: e for e in old.webhooks}
        after = {e.id for e in new.webhooks}
        asked: list[Future[None]] = []
        for endpoint_id in before.keys() - after:
            asked.append(self._runtime.remove_child(child_id(endpoint_id)))
        for endpoint in new.webhooks:
            spec = webhook_spec(self._webhooks.outbox, endpoint, self._observer)
            if endpoint.id not in before:
                asked.append(self._runtime.add_child(ROOT, spec))
            elif before[endpoint.id] != endpoint:
                asked.append(self._runtime.replace_child(spec))
        return asked
