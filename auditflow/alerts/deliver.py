"""HTTP layer of alert routing: POST one request with retries, as ``destinations.next_wait`` decides."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import requests

from auditflow.alerts.destinations import Request, RetryPolicy, classify, next_wait, redacted_url

MAX_BODY_IN_REASON = 300


@dataclass
class Outcome:
    ok: bool
    status: int | None          # last HTTP status; None = no response
    attempts: int
    reason: str                 # what the last response or error said
    permanent: bool = False     # refused (4xx) rather than given up on after retries
    aborted: bool = False       # stopped (Ctrl-C/SIGTERM) before a final answer: not done


def _stop_sleep(seconds: float, stop: Callable[[], bool]) -> bool:
    """Sleep in short steps so a stop request is honoured within 0.2 s. True if stopped."""
    end = time.monotonic() + seconds
    while True:
        if stop():
            return True
        left = end - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(0.2, left))


def post(session: requests.Session, req: Request, policy: RetryPolicy,
         stop: Callable[[], bool] = lambda: False,
         on_retry: Callable[[int, str, float], None] = lambda _a, _r, _w: None) -> Outcome:
    """Send ``req`` until it succeeds, is refused, or the attempts are used up."""
    attempt = 0
    while True:
        attempt += 1
        status: int | None = None
        retry_after: str | None = None
        try:
            resp = session.post(req.url, json=req.body, headers=req.headers, timeout=req.timeout_s,
                                allow_redirects=False)
            status, retry_after = resp.status_code, resp.headers.get("Retry-After")
            reason = f"HTTP {status}: {resp.text[:MAX_BODY_IN_REASON].strip() or resp.reason}"
        except requests.RequestException as exc:
            # the exception text repeats the full URL, whose path is a secret for Slack
            reason = f"{type(exc).__name__} talking to {redacted_url(req.url)}"
        verdict = classify(status)
        if verdict == "ok":
            return Outcome(True, status, attempt, reason)
        wait = next_wait(attempt, status, retry_after, policy)
        if wait is None:
            if verdict == "permanent":
                return Outcome(False, status, attempt, reason, permanent=True)
            return Outcome(False, status, attempt, f"gave up after {attempt} attempts; last: {reason}")
        on_retry(attempt, reason, wait)
        if _stop_sleep(wait, stop):
            return Outcome(False, status, attempt, f"stopped while retrying; last: {reason}", aborted=True)
