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

import asyncio
import contextvars
import functools
import inspect
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from fastapi.routing import APIRoute

from dcc.services.uow import UnitOfWork

T = TypeVar("T")

API_THREADS = 40  # as many as anyio's default thread limiter (the pages' handlers): the pool's 20 + 20 connections
_EXECUTOR = ThreadPoolExecutor(max_workers=API_THREADS, thread_name_prefix="dcc-api")


async def to_thread(func: Callable[..., T], *args: Any) -> T:
    """`func(*args)` in a thread of the API's pool, with this task's context variables (the request id of the log
    lines). Leaner than anyio's `to_thread.run_sync` (Starlette's `run_in_threadpool`), whose capacity limiter and
    cancel scopes (an extra turn of the event loop for each hand-over) cost a fifth of the server's CPU under load.
    If the waiting task is cancelled, the call is dropped when it has not started, else waited for: the caller's
    clean-up (closing its unit of work) never runs while the thread still uses it."""
    future: Future[T] = _EXECUTOR.submit(contextvars.copy_context().run, func, *args)
    try:
        return await asyncio.wrap_future(future)
    except asyncio.CancelledError:
        while not future.done():
            try:
                await asyncio.wrap_future(future)
            except BaseException:  # its outcome no longer matters, only that it is over
                pass
        raise


def in_threadpool(func: Callable[..., Any]) -> Callable[..., Any]:
    """`func` (a plain `def`) as a coroutine function that runs it in the thread pool, then, in the same thread,
    ends the transaction it left open (a read: rolled back, its connection back to the pool), so that the unit
    of work's exit has no I/O left and needs no second hand-over to the thread pool (`deps.get_uow`)."""

    @functools.wraps(func)
    async def endpoint(*args: Any, **kwargs: Any) -> Any:
        return await to_thread(_call_and_release, func, args, kwargs)

    return endpoint


def _call_and_release(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    try:
        return func(*args, **kwargs)
    finally:
        for value in kwargs.values():
            if isinstance(value, UnitOfWork):
                value.release()


class ApiRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        plain = not (inspect.iscoroutinefunction(endpoint) or inspect.isgeneratorfunction(endpoint)
                     or inspect.isasyncgenfunction(endpoint))
        super().__init__(path, in_threadpool(endpoint) if plain else endpoint, **kwargs)


# ------------------------------------------------------------------------------------------ flat dispatch


class FlatDispatch:
    """The app's routes matched in one pass, in FastAPI's own order.

    FastAPI 0.150 keeps each included router as a branch: a request walks the branches, and each level matches
    the path again when it hands the request down (the API's and the pages' routers are included in one
    router each, so a page's request matched the hundred API routes two or three times; a 404 walked every
    route several times). The tree is fixed once the app is built, so its leaves — FastAPI's effective
    route contexts, the same objects it dispatches to — are listed once and matched once per request; the
    selected route is handled exactly as FastAPI hands it over. No FULL match (404, redirect of a trailing
    slash, routes added after the app was built): FastAPI's router answers, as before.
    """

    def __init__(self, router: Any, leaves: list[tuple[Any, Any]]) -> None:
        self.router = router
        self.fallback = router.app
        self.leaves = leaves

    @classmethod
    def install(cls, app: Any) -> bool:
        """Dispatch `app`'s requests through a flat list of its routes; False (nothing changed) when the
        router holds something this does not know how to hand over."""
        from fastapi.routing import _IncludedRouter
        from starlette.routing import Mount, Route

        router = app.router
        if getattr(router, "middleware_stack", None) != router.app:
            return False
        leaves: list[tuple[Any, Any]] = []
        for route in router.routes:
            if isinstance(route, _IncludedRouter):
                for context in route.effective_route_contexts():
                    if not isinstance(context.original_route, APIRoute) or context.app is None:
                        return False
                    leaves.append((context.original_route, context))
            elif isinstance(route, APIRoute | Mount | Route):
                leaves.append((route, None))
            else:
                return False
        router.middleware_stack = cls(router, leaves)
        return True

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        from fastapi.routing import _FASTAPI_EFFECTIVE_ROUTE_CONTEXT_KEY, _get_fastapi_scope
        from starlette.routing import Match

        if scope["type"] != "http":
            await self.fallback(scope, receive, send)
            return
        partial: tuple[Any, Any, dict[str, Any]] | None = None
        for route, context in self.leaves:
            match, child_scope = (context or route).matches(scope)
            if match == Match.FULL:
                break
            if match == Match.PARTIAL and partial is None:
                partial = (route, context, child_scope)
        else:
            if partial is None:
                await self.fallback(scope, receive, send)
                return
            route, context, child_scope = partial
        scope.setdefault("router", self.router)
        scope.update(child_scope)
        if context is not None:
            scope["route"] = route
            _get_fastapi_scope(scope)[_FASTAPI_EFFECTIVE_ROUTE_CONTEXT_KEY] = context
        await route.handle(scope, receive, send)
