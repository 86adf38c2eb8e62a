"""Errors of the integrations layer (plain Python, no Prefect).

    IntegrationError
    ├── HttpJobError
    │   ├── RequestFailedError        no response: connection refused, DNS, timeout
    │   └── UnexpectedStatusError     a response whose status is not among the expected
    ├── PythonJobError
    │   ├── CallableNotFoundError     'module:function' cannot be imported or is not callable
    │   └── ScriptExitError           a script ended with a non-zero sys.exit()
    └── RemoteServiceError            Jira, Confluence, Mattermost (service, url in the message)
        ├── AuthenticationError       401/403: fails at once, never retried
        ├── NotFoundError             404
        ├── ConflictError             409: someone else saved first
        ├── RateLimitedError          429 still returned after honouring Retry-After
        └── ServiceUnavailableError   5xx still returned after the retries

Messages say what failed, where, and what was found instead.
"""

from __future__ import annotations


class IntegrationError(Exception):
    """Base of every error raised by `integrations/`."""


class HttpJobError(IntegrationError):
    """An HTTP task's request did not succeed."""


class RequestFailedError(HttpJobError):
    """No response was received."""


class UnexpectedStatusError(HttpJobError):
    """The response status is not one of the expected ones."""

    def __init__(self, message: str, status_code: int, body_excerpt: str):
        super().__init__(message)
        self.status_code = status_code
        self.body_excerpt = body_excerpt


class PythonJobError(IntegrationError):
    """A Python task could not be run."""


class CallableNotFoundError(PythonJobError):
    """The 'module:function' reference does not name a callable."""


class ScriptExitError(PythonJobError):
    """A Python script exited with a non-zero status."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


class RemoteServiceError(IntegrationError):
    """A remote service (Jira, Confluence, Mattermost) answered with an error."""

    def __init__(self, message: str, *, service: str = "", url: str = "", status: int | None = None):
        super().__init__(message)
        self.service = service
        self.url = url
        self.status = status


class AuthenticationError(RemoteServiceError):
    """401/403: the credentials were refused."""


class NotFoundError(RemoteServiceError):
    """404: the page, issue or channel does not exist."""


class ConflictError(RemoteServiceError):
    """409: a concurrent change won."""


class RateLimitedError(RemoteServiceError):
    """429 after honouring Retry-After as often as allowed."""


class ServiceUnavailableError(RemoteServiceError):
    """5xx after the retries."""


# ─── Jira ──────────────────────────────────────────────────────────────────────────────────────
# Added for integrations/jira.py. Every class here is a RemoteServiceError, so callers that only
# know the generic hierarchy above still catch them.


class JiraQueryError(RemoteServiceError):
    """400: Jira rejected a JQL query or a request parameter (its errorMessages are in the message)."""


class JiraUnreachableError(RemoteServiceError):
    """No HTTP response from Jira (connection refused, DNS, TLS, timeout) after the retries."""


class JiraResponseError(RemoteServiceError):
    """Jira answered 2xx but the body is not the shape its REST API documents."""


# --- Confluence / Mattermost ------------------------------------------------------------------
#
#   RemoteServiceError
#   ├── NotFoundError
#   │   └── TableNotFoundError        the page exists but no table matches the locator
#   └── ServiceUnreachableError       no response at all (refused, DNS, timeout) after the retries
#   IntegrationError
#   └── TableShapeError               the rows do not fit the table (unknown column, merged cells...)


class TableNotFoundError(NotFoundError):
    """The Confluence page exists but holds no table matching the locator."""


class ServiceUnreachableError(RemoteServiceError):
    """No response from Confluence or Mattermost (connection refused, DNS, timeout) after the retries."""


class TableShapeError(IntegrationError):
    """Rows cannot be read from or written into a table as asked (unknown column, merged cells...)."""
