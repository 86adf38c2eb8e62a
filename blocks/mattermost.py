"""Credentials and default destination for Mattermost."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field, SecretStr

from blocks.http_auth import ServiceCredentials

if TYPE_CHECKING:
    from integrations.mattermost import Mattermost


class MattermostCredentials(ServiceCredentials):
    """How Tasklane posts to Mattermost: the server, a bot (or personal access) token, a default channel.

    Attributes:
        url: server URL, e.g. `https://mattermost.example.com`.
        token: bot token or personal access token; stored encrypted, never logged.
        team: team name (as in the URL) of channels given by name.
        channel: default channel name (or id) of `mattermost_notify` tasks that name none.
        verify_tls: verify the server's TLS certificate.
        timeout: seconds per request.

    Examples:
        Save the credentials once, then name the block in a `mattermost_notify` task:
        ```python
        from blocks import MattermostCredentials
        MattermostCredentials(
            url="https://mattermost.example.com", token="...", team="ops", channel="alerts"
        ).save("ops-bot")
        ```
        Load it in code:
        ```python
        from blocks import MattermostCredentials
        mattermost_credentials = MattermostCredentials.load("BLOCK_NAME")
        mattermost_credentials.get_client().post_message("hello", team="ops", channel="alerts")
        ```
    """

    _block_type_name = "Mattermost Credentials"
    _block_type_slug = "mattermost-credentials"
    _description = "Mattermost server, bot token and default team/channel for Tasklane."
    _service = "Mattermost"

    url: str = Field(..., description="Server URL, e.g. https://mattermost.example.com.")
    token: SecretStr = Field(..., description="Bot token or personal access token.")
    team: str | None = Field(None, description="Team name (as in the URL) of channels given by name.")
    channel: str | None = Field(
        None, description="Default channel name (or 26-character id) of notifications that name none."
    )
    verify_tls: bool = Field(True, description="Verify the server's TLS certificate.")
    timeout: float = Field(30.0, gt=0, le=600, description="Seconds per request.")

    def get_client(self) -> Mattermost:
        """A `Mattermost` wrapper (posting, look-ups) over a driver with bounded retries of 429/5xx."""
        from integrations.mattermost import Mattermost, make_mattermost_driver

        driver = make_mattermost_driver(
            self.url,
            token=self.token.get_secret_value(),
            source=self.label,
            timeout=self.timeout,
            verify_tls=self.verify_tls,
        )
        return Mattermost(driver, source=self.label)
