"""Gemini, behind a small seam: `Generate`, a callable taking the prompt and returning the lesson text.

`gemini()` makes the real one from settings: the google-genai SDK (its
async client), which reads `GOOGLE_GEMINI_BASE_URL` itself, so tests point
the real client at a local fake server. There is one retry policy, ours
(`RetryPolicy`): the SDK's own retries are switched off (one attempt per call).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib
import random
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from cms.errors import NotConfigured, UpstreamError
from cms.settings import Settings

if TYPE_CHECKING:
    from google.genai import types

MAX_OUTPUT_TOKENS = 16384
"""Room for the lesson and the model's thinking; a longer answer is cut off and refused."""
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


T = TypeVar("T")


class Generate(Protocol):
    """The seam in front of Gemini: the prompt in, the lesson's markdown out (or an `UpstreamError`)."""

    model: str

    def __call__(self, prompt: str) -> str: ...


@dataclass(frozen=True)
class RetryPolicy:
    """The one retry policy: `attempts` calls at most, each within `timeout` seconds; 429 and 5xx answers
    are retried after an exponential backoff (`initial_delay` doubling up to `max_delay`, plus up to 10%
    jitter; a longer `Retry-After` is honoured up to `max_delay`)."""

    attempts: int = 4
    initial_delay: float = 2.0
    max_delay: float = 30.0
    timeout: float = 120.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.timeout <= 0 or self.initial_delay < 0 or self.max_delay < 0:
            raise ValueError("a retry policy needs attempts >= 1, a positive timeout and delays >= 0")

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        wait = min(self.max_delay, self.initial_delay * 2 ** (attempt - 1))
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_delay))
        return wait * (1 + random.random() / 10)


@dataclass(frozen=True)
class Gemini:
    """The real `Generate`: the google-genai SDK's async client, one call per draft (retried by `policy`)."""

    api_key: str = dataclasses.field(repr=False)
    model: str
    policy: RetryPolicy = RetryPolicy()

    def __call__(self, prompt: str) -> str:
        """Ask once (plus retries); called from synchronous code: the CLI, or the API's worker thread."""
        return answer_text(asyncio.run(self._ask(prompt)))

    async def _ask(self, prompt: str) -> types.GenerateContentResponse:
        from google import genai  # the SDK takes a second to import; only a draft needs it
        from google.genai import types

        options = types.HttpOptions(timeout=round(self.policy.timeout * 1000),
                                    retry_options=types.HttpRetryOptions(attempts=1))
        client = genai.Client(api_key=self.api_key, http_options=options)  # base_url: GOOGLE_GEMINI_BASE_URL
        config = types.GenerateContentConfig(max_output_tokens=MAX_OUTPUT_TOKENS)
        try:
            return await _with_retries(
                lambda: client.aio.models.generate_content(model=self.model, contents=prompt, config=config),
                self.policy)
        finally:
            await client.aio.aclose()


def gemini(settings: Settings, policy: RetryPolicy | None = None) -> Gemini:
    """The Gemini seam from settings (GEMINI_API_KEY, GEMINI_MODEL); 503 when there is no key."""
    if not settings.gemini_api_key:
        raise NotConfigured("AI drafts need a Gemini API key: set GEMINI_API_KEY", reason="ai-not-configured")
    return Gemini(api_key=settings.gemini_api_key, model=settings.gemini_model, policy=policy or RetryPolicy())


async def _with_retries(call: Callable[[], Awaitable[T]], policy: RetryPolicy) -> T:
    from google.genai import errors

    for attempt in range(1, policy.attempts + 1):
        try:
            return await asyncio.wait_for(call(), policy.timeout)
        except errors.APIError as error:
            if error.code not in RETRY_STATUSES or attempt == policy.attempts:
                raise _refused(error, attempt) from None
            await asyncio.sleep(policy.delay(attempt, _retry_after(error)))
        except (TimeoutError, *_timeouts()):
            raise UpstreamError(f"Gemini did not answer within {policy.timeout:g} seconds; nothing was written: "
                                "try again later", reason="ai-timeout") from None
        except _network_errors() as error:
            raise UpstreamError(f"Gemini could not be reached ({type(error).__name__}: {error}); nothing was "
                                "written: check the network (and GOOGLE_GEMINI_BASE_URL if set)",
                                reason="ai-unreachable") from None
    raise AssertionError("unreachable: the last attempt returns or raises")


def _refused(error: Any, attempts: int) -> UpstreamError:
    what = f"{error.code} {error.status or ''}".strip() + (f": {error.message}" if error.message else "")
    if error.code == 429:
        return UpstreamError(f"Gemini is rate limiting us ({what}) after {attempts} attempts; nothing was "
                             "written: try again later", reason="ai-rate-limited")
    if error.code in RETRY_STATUSES:
        return UpstreamError(f"Gemini failed ({what}) after {attempts} attempts; nothing was written: try again "
                             "later", reason="ai-unavailable")
    return UpstreamError(f"Gemini refused the request ({what}); nothing was written: check GEMINI_API_KEY and "
                         "GEMINI_MODEL", reason="ai-refused")


def _retry_after(error: Any) -> float | None:
    headers = getattr(getattr(error, "response", None), "headers", None) or {}
    with contextlib.suppress(TypeError, ValueError):
        return float(headers.get("retry-after"))
    return None


@cache
def _network_errors() -> tuple[type[Exception], ...]:
    """Transport errors of whichever httpx the SDK uses (httpx2 from google-genai 3, httpx before)."""
    return tuple(_from_httpx("TransportError"))


@cache
def _timeouts() -> tuple[type[Exception], ...]:
    return tuple(_from_httpx("TimeoutException"))


def _from_httpx(name: str) -> Iterator[type[Exception]]:
    for module in ("httpx2", "httpx"):
        with contextlib.suppress(ImportError):
            yield getattr(importlib.import_module(module), name)


def answer_text(response: types.GenerateContentResponse) -> str:
    """The text of a complete answer; a blocked, truncated or empty answer is an `UpstreamError`."""
    feedback = response.prompt_feedback
    if feedback is not None and feedback.block_reason:
        raise UpstreamError(f"Gemini blocked the prompt ({_name(feedback.block_reason)}); nothing was written: "
                            "rephrase the title or the brief", reason="ai-blocked")
    if not response.candidates:
        raise UpstreamError("Gemini's answer holds no lesson; nothing was written: try again", reason="ai-empty")
    candidate = response.candidates[0]
    reason = _name(candidate.finish_reason)
    if reason == "MAX_TOKENS":
        raise UpstreamError("Gemini's answer was cut off (finish reason MAX_TOKENS); nothing was written: try "
                            "again, perhaps with a narrower brief", reason="ai-truncated")
    if reason != "STOP":
        raise UpstreamError(f"Gemini stopped without a usable answer (finish reason {reason}); nothing was "
                            "written: rephrase the title or the brief", reason="ai-blocked")
    parts = candidate.content.parts if candidate.content and candidate.content.parts else []
    text = "".join(part.text for part in parts if part.text and not part.thought)
    if not text.strip():
        raise UpstreamError("Gemini's answer is empty; nothing was written: try again", reason="ai-empty")
    return text


def _name(value: Any) -> str:
    return str(getattr(value, "value", value) or "none")
