"""A test's view of the simulator over the wire: an aiohttp client standing in for the page."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

Scenario = Callable[[aiohttp.ClientSession], Awaitable[None]]


def run(scenario: Scenario) -> None:
    async def main() -> None:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            await scenario(http)

    asyncio.run(main())


class Page:
    """A stand-in for the chat page: one WebSocket, read frame by frame."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    async def frame(self) -> dict[str, Any]:
        message = await self.ws.receive(timeout=10)
        assert message.type == aiohttp.WSMsgType.TEXT, message
        frame: dict[str, Any] = json.loads(message.data)
        return frame

    async def frames(self, count: int) -> list[dict[str, Any]]:
        return [await self.frame() for _ in range(count)]

    async def message(self) -> dict[str, Any]:
        frame = await self.frame()
        assert frame["type"] == "message", frame
        message: dict[str, Any] = frame["message"]
        return message

    async def send(self, **frame: Any) -> None:
        await self.ws.send_json(frame)

    async def receipt(self, message_id: str) -> None:
        await self.send(type="receipt", id=message_id)

    async def barrier(self) -> None:
        """Return once the server has handled every frame sent before (it answers in order):
        a message to self, whose acks the server sends when it gets to it."""
        token = uuid.uuid4().hex
        await self.send(type="send", id=token, body="barrier", timestamp=1.0)
        while (frame := await self.frame()) != {"type": "ack", "id": token, "ack": 2}:
            assert frame["type"] == "ack" and frame["id"] == token, frame


@asynccontextmanager
async def page(http: aiohttp.ClientSession, url: str, sid: str,
               device: str | None = None) -> AsyncIterator[Page]:
    """A page's connection; as `device` (the id a profile keeps), or as a new device."""
    query = "" if device is None else f"?device={device}"
    async with http.ws_connect(f"{url}/chat/{sid}/ws{query}") as ws:
        yield Page(ws)


async def post(http: aiohttp.ClientSession, url: str, body: Any = None, *,
               raw: bytes | None = None, status: int = 200) -> dict[str, Any]:
    data = raw if raw is not None else json.dumps(body or {}).encode()
    async with http.post(url, data=data, headers={"Content-Type": "application/json"}) as r:
        answer: dict[str, Any] = await r.json()
        assert r.status == status, answer
        return answer


async def state(http: aiohttp.ClientSession, url: str, sid: str) -> dict[str, Any]:
    async with http.get(f"{url}/sim/{sid}") as r:
        assert r.status == 200
        answer: dict[str, Any] = await r.json()
        return answer
