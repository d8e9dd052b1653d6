"""The API's route class: a plain `def` handler (it touches the database) runs in the thread pool, and its
answer is checked against the response model on the event loop.

FastAPI runs a plain `def` handler in the thread pool and then hands its answer to the thread pool a second
time to validate it against the response model. Our handlers build the response models themselves, so that
second validation only checks instances: cheaper than the thread hand-over it costs (a wake-up and a fight
for the interpreter lock, about a tenth of the server's CPU under load). `ApiRoute` wraps such a handler in
a coroutine that awaits it in the thread pool: one hand-over per request instead of two. The handler's
signature (parameters, dependencies, return annotation) is the wrapped function's (`functools.wraps`).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool


def in_threadpool(func: Callable[..., Any]) -> Callable[..., Any]:
    """`func` (a plain `def`) as a coroutine function that runs it in the thread pool."""

    @functools.wraps(func)
    async def endpoint(*args: Any, **kwargs: Any) -> Any:
        return await run_in_threadpool(func, *args, **kwargs)

    return endpoint


class ApiRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        plain = not (inspect.iscoroutinefunction(endpoint) or inspect.isgeneratorfunction(endpoint)
                     or inspect.isasyncgenfunction(endpoint))
        super().__init__(path, in_threadpool(endpoint) if plain else endpoint, **kwargs)
