"""Live updates for the dashboard's pages: a server-sent event stream that sends what changed."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import Request
from fastapi.responses import StreamingResponse

from central.web import auth
from central.web.deps import WebContext


def event_stream(request: Request, web: WebContext, produce: Callable[[], dict[str, Any] | None],
                 event: str) -> StreamingResponse:
    """Every ``web.sse_poll_s``, ``produce()`` (on a worker thread), sent as ``event`` when it changed; a
    keep-alive comment every 15 s otherwise. Ends with the session, the client or the app."""
    sid = request.session.get("sid")

    def alive() -> bool:  # the stream ends with its session (not counted as activity: an idle page times out)
        return auth.session_principal(web.store, sid, web.clock(), web.policy, touch=False) is not None

    async def stream() -> AsyncIterator[str]:
        last = None
        last_sent = 0.0
        yield "retry: 2000\n\n"
        while not web.stopping.is_set() and not await request.is_disconnected():
            if not await asyncio.to_thread(alive):
                break
            data = await asyncio.to_thread(produce)
            # What changes every tick (the clock) does not count as a change.
            key = json.dumps({k: v for k, v in (data or {}).items() if k != "now"}, sort_keys=True, default=str)
            if key != last:
                last = key
                last_sent = time.monotonic()
                yield f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False, default=str)}\n\n"
            elif time.monotonic() - last_sent > 15:
                last_sent = time.monotonic()
                yield ": keep-alive\n\n"
            await asyncio.sleep(web.sse_poll_s)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
