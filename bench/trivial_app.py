"""The baseline of the `api` benchmark: the smallest Litestar app, served exactly like the real one.

    granian --interface asgi --factory --workers 1 bench.trivial_app:create_app

One GET handler returning a small dict: what granian + Litestar cost per
request with no routing depth, middleware, database or serialisation work
to speak of. The real API's req/s is reported as a share of this one's,
measured in the same run on the same machine.
"""

from __future__ import annotations

from litestar import Litestar, get


async def handler() -> dict[str, str]:
    return {"status": "ok", "service": "coursebase-bench"}


def create_app() -> Litestar:
    return Litestar([get("/")(handler)], debug=False)
