"""The raw request dump of the simulator (`--dump-dir`): every request's bytes, as received.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

# --- raw request dump ------------------------------------------------------------------------------

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]


class DumpRequests:
    """Pure ASGI middleware writing each raw HTTP request (request line, headers, body) to a file."""

    def __init__(self, app: Callable[..., Awaitable[None]], directory: Path) -> None:
        self.app = app
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    async def __call__(
        self,
        scope: Scope,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Read the whole body first (so it is recorded even if the app never reads it), then replay it.
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break  # client went away before sending the whole body
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        self._write(scope, body)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _write(self, scope: Scope, body: bytes) -> None:
        with self._lock:
            number = next(self._counter)
        target = scope.get("raw_path") or scope["path"].encode()
        if scope.get("query_string"):
            target += b"?" + scope["query_string"]
        lines = [
            f"{scope['method']} ".encode() + target + f" HTTP/{scope.get('http_version', '1.1')}".encode()
        ]
        lines += [name + b": " + value for name, value in scope.get("headers", [])]
        slug = re.sub(r"[^A-Za-z0-9]+", "_", scope["path"]).strip("_") or "root"
        path = self.directory / f"{number:06d}-{scope['method']}-{slug}.http"
        path.write_bytes(b"\r\n".join(lines) + b"\r\n\r\n" + body)

