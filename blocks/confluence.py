"""Credentials for Confluence Cloud or Confluence Server / Data Center."""

from __future__ import annotations

from typing import TYPE_CHECKING, Self

from pydantic import Field, model_validator

from blocks.http_auth import AtlassianCredentials

if TYPE_CHECKING:
    from atlassian import Confluence

    from integrations.confluence import ConfluencePages


class ConfluenceCredentials(AtlassianCredentials):
    """How Tasklane signs in to a Confluence: the base URL, a user and a token.

    Cloud: `url` ends in `/wiki`, `username` is the account e-mail and `token` an API token (Cloud
    takes basic auth only, so a Cloud block without a username is refused).
    Server / Data Center: a user name and password, or only `token` as a personal access token.

    Attributes:
        url: base URL, e.g. `https://example.atlassian.net/wiki` or `https://confluence.example.com`.
        username: account e-mail (Cloud) or user name (Server/DC); empty for a personal access token.
        token: API token, password or personal access token; stored encrypted, never logged.
        cloud: Confluence Cloud rather than Server / Data Center.
        verify_tls: verify the server's TLS certificate.
        timeout: seconds per request.

    Examples:
        Save the credentials once, then name the block in a `confluence_table` task:
        ```python
        from blocks import ConfluenceCredentials
        ConfluenceCredentials(url="https://confluence.example.com", token="pat-...").save("wiki")
        ```
        Load it in code:
        ```python
        from blocks import ConfluenceCredentials
        confluence_credentials = ConfluenceCredentials.load("BLOCK_NAME")
        pages = confluence_credentials.get_pages()
        ```
    """

    _block_type_name = "Confluence Credentials"
    _block_type_slug = "confluence-credentials"
    _description = "Confluence URL, user and API token (or password / personal access token) for Tasklane."
    _service = "Confluence"

    url: str = Field(
        ...,
        description="Base URL, e.g. https://confluence.example.com or https://example.atlassian.net/wiki.",
    )
    cloud: bool = Field(False, description="Confluence Cloud rather than Server / Data Center.")

    @model_validator(mode="after")
    def _cloud_signs_in_with_the_account_email(self) -> Self:
        # Without a username the token is sent as a Bearer personal access token, which only
        # Server / Data Center accepts: Cloud would refuse every request with 401.
        if self.cloud and not self.username:
            raise ValueError(
                "Confluence Cloud signs in with the account e-mail as username and an API token; "
                "a token without a username is a personal access token (Server / Data Center only)"
            )
        return self

    def get_client(self) -> Confluence:
        """An atlassian-python-api `Confluence` client with bounded retries of 429/5xx."""
        from integrations.confluence import make_confluence_client

        return self._client(make_confluence_client)

    def get_pages(self) -> ConfluencePages:
        """Pages and tables over `get_client()`, safe under concurrent edits (409s re-applied)."""
        from integrations.confluence import ConfluencePages

        return ConfluencePages(self.get_client(), source=self.label)
