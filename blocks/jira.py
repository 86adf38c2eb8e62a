"""Credentials for Jira Cloud or Jira Server / Data Center."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from blocks.http_auth import AtlassianCredentials

if TYPE_CHECKING:
    from atlassian import Jira


class JiraCredentials(AtlassianCredentials):
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
    _service = "Jira"

    url: str = Field(..., description="Base URL of the Jira, e.g. https://example.atlassian.net.")
    cloud: bool = Field(False, description="Jira Cloud rather than Jira Server / Data Center.")

    def get_client(self, timeout: float | None = None) -> Jira:
        """An `atlassian.Jira` client with bounded retries of 429/5xx (see `make_jira_client`).

        Args:
            timeout: seconds per request; the block's `timeout` when None.
        """
        from integrations.jira import make_jira_client

        return self._client(make_jira_client, timeout)
