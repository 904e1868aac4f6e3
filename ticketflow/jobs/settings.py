"""The job queue's settings from ``.ticketflow.yaml`` (a ``jobs:`` section the Go tool ignores).

    jobs:
        workers: 4
        history_size: 1000
        retry:
            attempts: 3
            delay: 2
            max_delay: 30

The section is read from ``Config.raw`` so the shared config module needs no change; every
key is optional and type-checked with the same kind of message as the rest of the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ticketflow.config import Config
from ticketflow.errors import ConfigError, quoted
from ticketflow.jobs.retry import RetryPolicy

MAX_WORKERS = 64
MAX_ATTEMPTS = 20
MAX_DELAY = 3600.0
MAX_HISTORY = 1_000_000


@dataclass(frozen=True, slots=True)
class JobSettings:
    """How many jobs run at once, how they retry, how much history is kept."""

    workers: int = 4
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    history_size: int = 1000

    @classmethod
    def from_config(cls, config: Config) -> JobSettings:
        return parse_job_settings(config.raw.get("jobs"))


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f".ticketflow.yaml: {where} must be a mapping of keys")
    return value


def _int(section: dict[str, Any], key: str, default: int, low: int, high: int, where: str) -> int:
    value = section.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(
            f".ticketflow.yaml: {where}.{key} must be a whole number from {low} to {high}, "
            f"got {quoted(value)}"
        )
    return value


def _seconds(section: dict[str, Any], key: str, default: float, where: str) -> float:
    value = section.get(key)
    if value is None:
        return default
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not (0 <= value <= MAX_DELAY)
    ):
        raise ConfigError(
            f".ticketflow.yaml: {where}.{key} must be seconds from 0 to {MAX_DELAY:.0f}, "
            f"got {quoted(value)}"
        )
    return float(value)


def parse_job_settings(data: Any) -> JobSettings:
    """The ``jobs`` mapping (None means every default) as typed settings."""
    jobs = _mapping(data, "jobs")
    retry = _mapping(jobs.get("retry"), "jobs.retry")
    d = JobSettings()
    delay = _seconds(retry, "delay", d.retry.delay, "jobs.retry")
    max_delay = _seconds(retry, "max_delay", max(d.retry.max_delay, delay), "jobs.retry")
    if max_delay < delay:
        raise ConfigError(
            f".ticketflow.yaml: jobs.retry.max_delay ({max_delay:g}) is below "
            f"jobs.retry.delay ({delay:g})"
        )
    return JobSettings(
        workers=_int(jobs, "workers", d.workers, 1, MAX_WORKERS, "jobs"),
        history_size=_int(jobs, "history_size", d.history_size, 0, MAX_HISTORY, "jobs"),
        retry=RetryPolicy(
            attempts=_int(retry, "attempts", d.retry.attempts, 1, MAX_ATTEMPTS, "jobs.retry"),
            delay=delay,
            max_delay=max_delay,
            multiplier=d.retry.multiplier,
            jitter=d.retry.jitter,
        ),
    )
