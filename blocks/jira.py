"""Credentials for Jira Cloud or Jira Server / Data Center."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from prefect.blocks.abstract import CredentialsBlock
from pydantic import Field, SecretStr, field_validator

from blocks.http_auth import DOCS_URL

if TYPE_CHECKING:
    from atlassian import Jira


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


class JiraCredentials(CredentialsBlock):
    """How Tasklane signs in to a Jira: the base URL, a user and an API token or password.

    Jira Cloud: `username` is the account e-mail and `token` an API token, with `cloud=True`.
    Jira Server / Data Center: a user name and password, or only `token` as a personal access
    token (leave `username` empty).

    Attributes:
        url: base URL, e.g. `https://example.atlassian.net` or `https://jira.example.com/jira`.
        username: account e-mail (Cloud) or user name (Server/DC); empty for a personal access token.
        token: API token, password or personal access token; stored encrypted, never logged.
        cloud: Jira Cloud (cursor-paged search) rather than Server / Data Center.
        verify_tls: verify the server's TLS certificate.
        timeout: seconds per request.

    Examples:
        Save the credentials once, then name the block in a `jira_export` task (`block: jira-prod`):
        ```python
        from blocks import JiraCredentials
        JiraCredentials(
            url="https://example.atlassian.net", username="bot@example.com", token="...", cloud=True
        ).save("jira-prod")
        ```
        Load it in code:
        ```python
        from blocks import JiraCredentials
        jira_credentials = JiraCredentials.load("BLOCK_NAME")
        client = jira_credentials.get_client()
        ```
    """

    _block_type_name = "Jira Credentials"
    _block_type_slug = "jira-credentials"
    _description = "Jira URL, user and API token (or password / personal access token) for Tasklane."
    _documentation_url = DOCS_URL

    url: str = Field(..., description="Base URL of the Jira, e.g. https://example.atlassian.net.")
    username: str | None = Field(
        None,
        description="Account e-mail (Cloud) or user name (Server/Data Center); "
        "empty for a personal access token.",
    )
    token: SecretStr = Field(
        ..., description="API token (Cloud), password, or personal access token (Server/Data Center)."
    )
    cloud: bool = Field(False, description="Jira Cloud rather than Jira Server / Data Center.")
    verify_tls: bool = Field(True, description="Verify the server's TLS certificate.")
    timeout: float = Field(30.0, gt=0, le=600, description="Seconds per request.")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_service_url(value, "Jira")

    @property
    def label(self) -> str:
        """`jira-credentials/NAME` once saved or loaded, for messages and logs."""
        return block_label(self, "jira-credentials (unsaved)")

    def get_client(self, timeout: float | None = None) -> Jira:
        """An `atlassian.Jira` client with bounded retries of 429/5xx (see `make_jira_client`).

        Args:
            timeout: seconds per request; the block's `timeout` when None.
        """
        from integrations.jira import make_jira_client

        return make_jira_client(
            self.url,
            self.username or None,
            self.token.get_secret_value(),
            cloud=self.cloud,
            timeout=timeout or self.timeout,
            verify_tls=self.verify_tls,
        )
