"""Exponential backoff with jitter for transient failures.

Only errors that say they are transient (``TicketflowError.transient``: a refused or reset
connection, a timeout) are retried: trying a rejected push or a malformed ticket again cannot
succeed and would only hide the error for longer. Jitter spreads the retries of several
clients that lost the same server at the same moment. The random source is injected so tests
get the same delays every run.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently a transient failure is tried again.

    The delay before attempt ``n`` (n >= 2) is ``delay * multiplier ** (n - 2)``, capped at
    ``max_delay``, then moved by up to ``jitter`` of itself either way. ``attempts`` counts
    the first try: 1 means never retry.
    """

    attempts: int = 3
    delay: float = 2.0
    max_delay: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.2

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {self.attempts}")
        if self.delay < 0 or self.max_delay < 0 or self.multiplier < 1:
            raise ValueError("delays must be >= 0 and the multiplier >= 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter must be between 0 and 1, got {self.jitter}")

    def delay_before(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait before attempt number ``attempt`` (2 for the first retry)."""
        base = min(self.max_delay, self.delay * self.multiplier ** max(0, attempt - 2))
        if self.jitter:
            base *= 1 + self.jitter * rng.uniform(-1.0, 1.0)
        return max(0.0, base)


NO_RETRY = RetryPolicy(attempts=1)
"""For work that must not be repeated automatically."""


def format_delay(seconds: float) -> str:
    """Seconds as a person reads them in a status line: "2 s", "1.8 s", "0.25 s"."""
    if seconds >= 10:
        text = f"{seconds:.0f}"
    elif seconds >= 1:
        text = f"{seconds:.1f}".rstrip("0").rstrip(".")
    else:
        text = f"{seconds:.2g}"
    return f"{text} s"
