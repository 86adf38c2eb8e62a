"""The errors of the integrations layer: one tree, plain Python (no Prefect).

Our exception hierarchy:

    IntegrationError
    ├── RemoteServiceError            talking to a service failed; has .service, .url and .status
    │   ├── ServiceUnreachableError   no response at all (refused, DNS, TLS, timeout) after retries
    │   ├── AuthenticationError       401/403: credentials refused or lacking permission; never retried
    │   ├── BadRequestError           400: the request was rejected (e.g. a JQL query Jira refuses)
    │   ├── NotFoundError             404: the issue, page, team or channel is missing or not visible
    │   │   └── TableNotFoundError    the Confluence page exists but no table matches the locator
    │   ├── ConflictError             409: someone else saved first (after the writer's own retries)
    │   ├── RateLimitedError          429 still answered after honouring Retry-After
    │   ├── ServiceUnavailableError   5xx still answered after the retries
    │   └── UnexpectedResponseError   2xx, but the body is not what the API documents (a login page?)
    ├── TableShapeError               rows do not fit a Confluence table (unknown column, merged cells)
    ├── HttpJobError                  an HTTP task's request did not succeed
    │   └── UnexpectedStatusError     a status outside the task's expected ones
    └── PythonJobError                a Python task could not be run
        ├── CallableNotFoundError     'module:function' cannot be imported or is not callable
        └── ScriptExitError           a script ended with a non-zero sys.exit()

`service` is the service's lower-case name ("jira", "confluence", "mattermost", "http"); `url` is
the request URL (for Jira, the Jira's base URL); `status` is the HTTP status, None when no answer
came. An HTTP task whose request gets no answer raises ServiceUnreachableError too.

A message says what failed, where (the service, the caller's label for the credentials such as a
block name, and the URL), and what was found instead (the status and what the service said, or
the body it sent). Any RemoteServiceError with a 4xx `status` other than 408, 409 and 429 is
permanent: another attempt gets the same answer.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "CallableNotFoundError",
    "ConflictError",
    "HttpJobError",
    "IntegrationError",
    "NotFoundError",
    "PythonJobError",
    "RateLimitedError",
    "RemoteServiceError",
    "ScriptExitError",
    "ServiceUnavailableError",
    "ServiceUnreachableError",
    "TableNotFoundError",
    "TableShapeError",
    "UnexpectedResponseError",
    "UnexpectedStatusError",
]


class IntegrationError(Exception):
    """Base of every error raised by `integrations/`."""


# --- remote services ---------------------------------------------------------------------------


class RemoteServiceError(IntegrationError):
    """Talking to a remote service failed.

    Attributes:
        service: the service's lower-case name: "jira", "confluence", "mattermost", "http".
        url: where: the request URL, or for Jira the base URL of the Jira.
        status: the HTTP status answered; None when there was no answer.
    """

    def __init__(self, message: str, *, service: str = "", url: str = "", status: int | None = None):
        super().__init__(message)
        self.service = service
        self.url = url
        self.status = status


class ServiceUnreachableError(RemoteServiceError):
    """No response at all (connection refused, DNS, TLS, timeout) after the connection retries."""


class AuthenticationError(RemoteServiceError):
    """401/403: the credentials were refused or lack permission. Never retried."""


class BadRequestError(RemoteServiceError):
    """400: the service rejected the request (Jira: the JQL query; its messages are in the message)."""


class NotFoundError(RemoteServiceError):
    """404: the issue, page, team or channel does not exist or is not visible."""


class TableNotFoundError(NotFoundError):
    """The Confluence page exists but holds no table matching the locator."""


class ConflictError(RemoteServiceError):
    """409: a concurrent change won."""


class RateLimitedError(RemoteServiceError):
    """429 after honouring Retry-After as often as allowed."""


class ServiceUnavailableError(RemoteServiceError):
    """5xx after the retries."""


class UnexpectedResponseError(RemoteServiceError):
    """A 2xx answer whose body is not the shape the service's REST API documents."""


# Former name, still imported by `deployments/` and its tests.


# --- tables ------------------------------------------------------------------------------------


class TableShapeError(IntegrationError):
    """Rows cannot be read from or written into a table as asked (unknown column, merged cells...)."""


# --- HTTP and Python tasks ---------------------------------------------------------------------


class HttpJobError(IntegrationError):
    """An HTTP task's request did not succeed."""


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
