"""The one HTTP retry policy of the integrations: urllib3's Retry, bounded.

429 and 5xx answers are retried with exponential backoff; a Retry-After header is honoured
up to a cap (urllib3's own `retry_after_max`); the last answer is returned rather than
raised as RetryError, so each integration maps it to its own error with the URL in it.
"""

from __future__ import annotations

from urllib3.util.retry import Retry

RETRY_STATUSES = (429, 500, 502, 503, 504)


def bounded_retry(
    retries: int,
    backoff_factor: float,
    max_backoff: float,
    max_retry_after: float,
    *,
    any_method: bool = False,
) -> Retry:
    """A Retry for a requests session.

    Args:
        retries: tries after the first, for connection errors, read errors and 429/5xx.
        backoff_factor: urllib3's exponential backoff factor.
        max_backoff: the longest wait between tries.
        max_retry_after: the longest Retry-After honoured.
        any_method: retry POSTs too; only for callers whose POSTs are idempotent
            (urllib3's default retries only idempotent methods).
    """
    options = {"allowed_methods": None} if any_method else {}
    return Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        other=0,
        status_forcelist=RETRY_STATUSES,
        backoff_factor=backoff_factor,
        backoff_max=max_backoff,
        retry_after_max=max_retry_after,
        respect_retry_after_header=True,
        raise_on_status=False,
        **options,
    )
