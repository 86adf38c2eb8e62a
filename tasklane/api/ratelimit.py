"""Request rate limits of the API (settings `api.rate_limit_token`, `api.rate_limit_address`),
counted by the `limits` library in moving windows, in this process's memory.

Whom a request counts against: a known bearer token (by the token's name, so one client's
traffic never slows another's); `/health` and the console's sign-in (`POST /console/login`), and
any request with an unknown token, against the client's address (making up tokens buys nothing).
Requests without a token (the console's pages, /docs) are not limited here: the API answers them
401, the console has its own session and sign-in throttle. Over the limit: 429 in the API's error
shape, with `Retry-After` (seconds).
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from tasklane.api.auth import TokenStore
from tasklane.api.core import error_response
from tasklane.api.settings import ApiSettings

# Counted per client address, whatever the token: the open door and the console's sign-in.
BY_ADDRESS = {("GET", "/health"), ("POST", "/console/login")}


class RateLimits:
    """The limits of one app, and what each client has used of them."""

    def __init__(self, api: ApiSettings, tokens: TokenStore):
        self.per_token = parse_many(api.rate_limit_token) if api.rate_limit_token else []
        self.per_address = parse_many(api.rate_limit_address) if api.rate_limit_address else []
        self.tokens = tokens
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    def bucket(self, request: Request) -> tuple[list[RateLimitItem], str] | None:
        """The limits the request counts against and whose they are; None: not limited."""
        address = f"address:{request.client.host if request.client else '-'}"
        if (request.method, request.url.path) in BY_ADDRESS:
            return self.per_address, address
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        caller = self.tokens.caller(token.strip())
        return (self.per_token, f"token:{caller.name}") if caller else (self.per_address, address)

    def wait(self, request: Request) -> tuple[int, RateLimitItem] | None:
        """Seconds until the request would be allowed, and the limit it is over; None: allowed (counted)."""
        found = self.bucket(request)
        if found is None:
            return None
        items, who = found
        for item in items:
            if not self.limiter.hit(item, who):
                reset = self.limiter.get_window_stats(item, who).reset_time
                return max(1, math.ceil(reset - time.time())), item
        return None


class RateLimitMiddleware:
    """Answers 429 (with `Retry-After`) to a request over its limits, before any routing."""

    def __init__(self, app: ASGIApp, limits: RateLimits):
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            over = self.limits.wait(Request(scope))
            if over is not None:
                seconds, item = over
                message = f"rate limit of {item} exceeded; retry in {seconds} s"
                response = error_response(429, message, **{"Retry-After": str(seconds)})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
