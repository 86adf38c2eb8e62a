"""Credentials for HTTP: the HTTP tasks' bearer token or username and password, and what the
service credential blocks (Jira, Confluence, Mattermost) share: a checked base URL and a label."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar, TypeVar, cast
from urllib.parse import urlsplit

import httpx
from prefect.blocks.abstract import CredentialsBlock
from pydantic import Field, SecretStr, field_validator

# Where the catalog's `auth_block` and Prefect blocks in general are explained.
DOCS_URL = "https://docs.prefect.io/v3/develop/blocks"

Client = TypeVar("Client")


class TasklaneCredentials(CredentialsBlock, ABC):
    """What every credentials block of Tasklane shares: where blocks are documented.

    Abstract: a subclass names its block type and builds its client in `get_client`.
    """

    _documentation_url = DOCS_URL


class HttpAuth(TasklaneCredentials, ABC):
    """Credentials an HTTP task sends with each request: an httpx `auth` and a client using it."""

    @abstractmethod
    def auth(self) -> httpx.Auth:
        """An httpx auth that authenticates each request; the secret is unwrapped only here."""

    def get_client(self) -> httpx.Client:
        """An httpx client that authenticates every request with `auth()`."""
        return httpx.Client(auth=self.auth())


class HttpBearerAuth(HttpAuth):
    """A bearer token sent as `Authorization: Bearer <token>` by HTTP tasks.

    Attributes:
        token: the token; stored encrypted by the Prefect server, never logged.

    Examples:
        Save a token once, then name the block in the catalog:
        ```python
        from blocks import HttpBearerAuth
        HttpBearerAuth(token="s3cr3t").save("status-api")
        ```
        Load it in code:
        ```python
        from blocks import HttpBearerAuth
        http_bearer_auth = HttpBearerAuth.load("BLOCK_NAME")
        client = http_bearer_auth.get_client()
        ```
        ```yaml
        - name: ping
          type: http
          url: https://status.example.com/api/ping
          auth_block: http-bearer-auth/status-api
        ```
    """

    _block_type_name = "HTTP Bearer Auth"
    _block_type_slug = "http-bearer-auth"
    _description = "Bearer token for Tasklane HTTP tasks."

    token: SecretStr = Field(..., description="The bearer token.")

    def auth(self) -> httpx.Auth:
        """An httpx auth that adds the bearer header to each request."""
        return _BearerAuth(self.token.get_secret_value())


class HttpBasicAuth(HttpAuth):
    """A username and password sent as HTTP basic auth by HTTP tasks.

    Attributes:
        username: the user name.
        password: the password; stored encrypted by the Prefect server, never logged.

    Examples:
        ```python
        from blocks import HttpBasicAuth
        HttpBasicAuth(username="svc", password="s3cr3t").save("intranet")
        ```
        Load it in code:
        ```python
        from blocks import HttpBasicAuth
        http_basic_auth = HttpBasicAuth.load("BLOCK_NAME")
        ```
        ```yaml
        auth_block: http-basic-auth/intranet
        ```
    """

    _block_type_name = "HTTP Basic Auth"
    _block_type_slug = "http-basic-auth"
    _description = "Username and password for Tasklane HTTP tasks."

    username: str = Field(..., description="The user name.")
    password: SecretStr = Field(..., description="The password.")

    def auth(self) -> httpx.Auth:
        """An httpx basic auth with the unwrapped password."""
        return httpx.BasicAuth(self.username, self.password.get_secret_value())


class _BearerAuth(httpx.Auth):
    def __init__(self, token: str):
        self._token = token

    def auth_flow(self, request: httpx.Request):
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request

    def __repr__(self) -> str:  # never show the token
        return "BearerAuth(token=****)"


def http_auth_of(block: object, reference: str) -> httpx.Auth:
    """The HTTP auth a loaded block gives (an `HttpBearerAuth`'s or `HttpBasicAuth`'s `auth()`;
    any block with an `auth()` is taken), for an `auth_block` setting named `reference`.

    Raises:
        ValueError: the block gives no HTTP auth; the message names it and the blocks that do.
    """
    auth = getattr(block, "auth", None)
    if not callable(auth):
        raise ValueError(
            f"auth block {reference!r} is a {type(block).__name__}, which gives no HTTP auth; "
            "use an http-bearer-auth or http-basic-auth block"
        )
    return cast(httpx.Auth, auth())


# --- service credentials (Jira, Confluence, Mattermost) ------------------------------------------


def check_service_url(value: str, service: str) -> str:
    """An http(s) base URL without credentials in it, trailing slash removed."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{service} URL {value!r} is not an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise ValueError(f"{service} URL {value!r} carries credentials; put them in the block's fields")
    return value.strip().rstrip("/")


def block_label(block: CredentialsBlock, fallback: str) -> str:
    """`slug/name` of a saved or loaded block, for error messages; `fallback` for an unsaved one."""
    name = getattr(block, "_block_document_name", None)
    return f"{block.get_block_type_slug()}/{name}" if name else fallback


class ServiceCredentials(TasklaneCredentials, ABC):
    """A block with the base URL of a service (`url`, checked by `check_service_url`) and a `label`.

    Abstract: subclasses name the service in `_service` and declare the `url` field.
    """

    _service: ClassVar[str] = "service"

    @field_validator("url", check_fields=False)
    @classmethod
    def _check_url(cls, value: str) -> str:
        return check_service_url(value, cls._service)

    @property
    def label(self) -> str:
        """`slug/NAME` once saved or loaded (e.g. `jira-credentials/prod`), for messages and logs."""
        slug = self.get_block_type_slug()
        return block_label(self, f"{slug} (unsaved)")


class AtlassianCredentials(ServiceCredentials, ABC):
    """The fields of a Jira or Confluence block (Cloud or Server / Data Center) and its client.

    Abstract: subclasses redeclare `url` and `cloud` with their own descriptions (which keeps the
    fields' order) and build their client with `_client`.
    """

    url: str = Field(..., description="Base URL of the service.")
    username: str | None = Field(
        None,
        description="Account e-mail (Cloud) or user name (Server/Data Center); "
        "empty for a personal access token.",
    )
    token: SecretStr = Field(
        ..., description="API token (Cloud), password, or personal access token (Server/Data Center)."
    )
    cloud: bool = Field(False, description="Cloud rather than Server / Data Center.")
    verify_tls: bool = Field(True, description="Verify the server's TLS certificate.")
    timeout: float = Field(30.0, gt=0, le=600, description="Seconds per request.")

    def _client(self, factory: Callable[..., Client], timeout: float | None = None) -> Client:
        """``factory(url, username, secret, cloud=, timeout=, verify_tls=)`` with the secret unwrapped:
        the shape of `make_jira_client` and `make_confluence_client`."""
        return factory(
            self.url,
            self.username or None,
            self.token.get_secret_value(),
            cloud=self.cloud,
            timeout=timeout or self.timeout,
            verify_tls=self.verify_tls,
        )
