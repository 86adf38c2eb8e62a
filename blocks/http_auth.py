"""Credentials for HTTP tasks: a bearer token or a username and password."""

from __future__ import annotations

import httpx
from prefect.blocks.abstract import CredentialsBlock
from pydantic import Field, SecretStr

# Where the catalog's `auth_block` and Prefect blocks in general are explained.
DOCS_URL = "https://docs.prefect.io/v3/develop/blocks"


class HttpBearerAuth(CredentialsBlock):
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
    _documentation_url = DOCS_URL

    token: SecretStr = Field(..., description="The bearer token.")

    def auth(self) -> httpx.Auth:
        """An httpx auth that adds the bearer header to each request."""
        return _BearerAuth(self.token.get_secret_value())

    def get_client(self) -> httpx.Client:
        """An httpx client that authenticates every request with the token."""
        return httpx.Client(auth=self.auth())


class HttpBasicAuth(CredentialsBlock):
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
    _documentation_url = DOCS_URL

    username: str = Field(..., description="The user name.")
    password: SecretStr = Field(..., description="The password.")

    def auth(self) -> httpx.Auth:
        """An httpx basic auth with the unwrapped password."""
        return httpx.BasicAuth(self.username, self.password.get_secret_value())

    def get_client(self) -> httpx.Client:
        """An httpx client that authenticates every request with basic auth."""
        return httpx.Client(auth=self.auth())


class _BearerAuth(httpx.Auth):
    def __init__(self, token: str):
        self._token = token

    def auth_flow(self, request: httpx.Request):
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request

    def __repr__(self) -> str:  # never show the token
        return "BearerAuth(token=****)"
