"""The one place every cloud API call goes through.

:class:`CallRunner` applies the retry policy (throttling, 5xx and transport errors are retried
with exponential backoff and jitter; anything else fails at once), keeps a :class:`CallRecord`
of every call with the provider's request id, and turns failures into
:class:`domain.cloud.CloudError`. Timeouts are set on the SDK clients (connect and read); the
providers classify their SDK's exceptions with a :data:`Classifier`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from domain.cloud import ApiCall, CallRecord, CloudError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Failure:
    """What a provider makes of an exception from its SDK."""

    code: str
    message: str
    request_id: str = ""
    retryable: bool = False


Classifier = Callable[[BaseException], Failure | None]  # None: not an SDK error (re-raised)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 4  # in all, the first included
    base_delay: float = 0.5  # seconds; doubled each retry, with jitter
    max_delay: float = 8.0


class CallRunner:
    def __init__(
        self,
        classify: Classifier,
        policy: RetryPolicy | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.classify = classify
        self.policy = policy or RetryPolicy()
        self.sleep = sleep
        self.records: list[CallRecord] = []

    def call(
        self, api: ApiCall, fn: Callable[[], T], request_id: Callable[[T], str]
    ) -> tuple[T, CallRecord]:
        """Make the call ``fn`` described by ``api``; ``request_id`` reads the id from its
        result. Raises CloudError when it fails for good."""
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                result = fn()
            except Exception as exc:
                failure = self.classify(exc)
                if failure is None:
                    raise
                if failure.retryable and attempt < self.policy.attempts:
                    delay = min(self.policy.max_delay, self.policy.base_delay * 2 ** (attempt - 1))
                    self.sleep(delay * (0.5 + random.random() / 2))
                    continue
                record = CallRecord(
                    api,
                    failure.request_id,
                    False,
                    attempt,
                    (time.monotonic() - started) * 1000,
                    f"{failure.code}: {failure.message}",
                )
                self.records.append(record)
                raise CloudError(
                    f"{api.service}.{api.action} failed after {attempt} attempt(s): "
                    f"{failure.code}: {failure.message}",
                    code=failure.code,
                    request_id=failure.request_id,
                    call=api,
                ) from None
            record = CallRecord(
                api, request_id(result), True, attempt, (time.monotonic() - started) * 1000
            )
            self.records.append(record)
            return result, record
