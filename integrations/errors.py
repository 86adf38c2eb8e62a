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
