"""The double's control API from a test thread: synchronous HTTP calls (urllib) answering the
double's state as JSON; a refusal raises `ControlError` with its status (400, 404, 409)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

__all__ = ["Control", "ControlError"]


class ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


class Control:
    """The control API over HTTP, synchronous (urllib), for test threads."""

    def __init__(self, url: str) -> None:
        self.url = url

    def state(self) -> dict[str, Any]:
        return self._call("GET", "/wa")

    def push(self, sender: str, body: str, *, ciphertext: bool = False,
             decrypt_after: float | None = None) -> str:
        payload: dict[str, Any] = {"from": sender, "body": body, "ciphertext": ciphertext}
        if decrypt_after is not None:
            payload["decrypt_after"] = decrypt_after
        return str(self._call("POST", "/wa/messages", payload)["id"])

    def decrypt(self, message_id: str) -> dict[str, Any]:
        return self._call("POST", "/wa/decrypt", {"id": message_id})

    def fault(self, mode: str, *, sticky: bool = False) -> dict[str, Any]:
        return self._call("POST", "/wa/fault", {"mode": mode, "sticky": sticky})

    def scan(self, qr: str) -> dict[str, Any]:
        return self._call("POST", "/wa/scan", {"qr": qr})

    def pair(self, code: str) -> dict[str, Any]:
        return self._call("POST", "/wa/pair", {"code": code})

    def login(self) -> dict[str, Any]:
        return self._call("POST", "/wa/login", {})

    def disconnect(self) -> dict[str, Any]:
        return self._call("POST", "/wa/disconnect", {})

    def socket_state(self, value: str) -> dict[str, Any]:
        return self._call("POST", "/wa/socket-state", {"state": value})

    def _call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                answer: dict[str, Any] = json.load(response)
        except urllib.error.HTTPError as exc:
            with exc:
                message = json.load(exc).get("error", exc.reason)
            raise ControlError(exc.code, str(message)) from None
        return answer
