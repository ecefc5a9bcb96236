"""httpkit holds what Warden's loopback HTTP servers share: the front and the simulator.

One rule each for who may call (`foreign_request`), where to listen (`split_listen`,
`is_loopback`, `bind_listen`), how errors and bodies are answered, how long and how many
connections a client may hold (`Limits`), and how an aiohttp app runs on a thread of its own
(`AppServer`). It imports nothing of `actors/`, `warden/` or `simulator/`.
"""

from httpkit.body import ApiError, read_body, read_json_object
from httpkit.guard import Limits
from httpkit.listen import ListenError, bind_listen, is_loopback, split_listen
from httpkit.origin import foreign_request, same_origin
from httpkit.ratelog import RateLimitedLog
from httpkit.responses import dumps, error_response, json_errors, json_response
from httpkit.server import AppServer

__all__ = [
    "ApiError",
    "AppServer",
    "Limits",
    "ListenError",
    "RateLimitedLog",
    "bind_listen",
    "dumps",
    "error_response",
    "foreign_request",
    "is_loopback",
    "json_errors",
    "json_response",
    "read_body",
    "read_json_object",
    "same_origin",
    "split_listen",
]
