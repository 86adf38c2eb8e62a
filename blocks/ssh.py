"""Credentials of the `ssh` task type: where to log in, with which key, and the host's pinned key."""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr, field_validator

from blocks.http_auth import TasklaneCredentials


class SSHCredentials(TasklaneCredentials):
    """A login on a remote host for SSH tasks: host, port, user, private key and the host's key.

    The host's key is pinned: a server presenting any other key (an unknown host, or a changed key)
    is refused before anything is sent to it, and the task runs nothing.

    Attributes:
        host: the host name or address.
        port: the SSH port.
        username: the remote user the commands run as.
        private_key: the user's private key (OpenSSH or PEM text); stored encrypted, never logged.
        passphrase: the private key's passphrase, if it has one.
        host_key: the server's public host key, as `ssh-keyscan` or a `known_hosts` line shows it
            (`ssh-ed25519 AAAA...`; a leading host name is ignored).

    Examples:
        Save a login once, then name the block in the catalog:
        ```python
        from pathlib import Path
        from blocks import SSHCredentials
        SSHCredentials(
            host="backup.example.com",
            username="backup",
            private_key=Path("~/.ssh/id_ed25519").expanduser().read_text(),
            host_key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI...",
        ).save("backup-host")
        ```
        Load it in code:
        ```python
        from blocks import SSHCredentials
        ssh_credentials = SSHCredentials.load("BLOCK_NAME")
        connection = await ssh_credentials.get_client()
        ```
        ```yaml
        - name: remote-backup
          type: ssh
          ssh_block: backup-host
          command: /opt/backup/run.sh --all
        ```
    """

    _block_type_name = "SSH Credentials"
    _block_type_slug = "ssh-credentials"
    _description = "Host, user, private key and pinned host key for Tasklane SSH tasks."

    host: str = Field(..., description="Host name or address of the SSH server.")
    port: int = Field(22, ge=1, le=65535, description="Port of the SSH server.")
    username: str = Field(..., description="Remote user the commands run as.")
    private_key: SecretStr = Field(..., description="The user's private key (OpenSSH or PEM text).")
    passphrase: SecretStr | None = Field(None, description="Passphrase of the private key, if any.")
    host_key: str = Field(
        ..., description="The server's public host key, e.g. 'ssh-ed25519 AAAA...' (from ssh-keyscan)."
    )
    connect_timeout: float = Field(15.0, gt=0, description="Seconds allowed to connect and log in.")

    @field_validator("host_key")
    @classmethod
    def _one_public_key(cls, value: str) -> str:
        """Keep `type base64`: a known_hosts line's host names and a trailing comment go."""
        words = value.split()
        for index, word in enumerate(words[:-1]):
            if word.startswith(("ssh-", "ecdsa-", "sk-")):
                return f"{word} {words[index + 1]}"
        raise ValueError(f"is not a public key line like 'ssh-ed25519 AAAA...'; found {value[:40]!r}")

    async def get_client(self) -> Any:
        """An open asyncssh connection, logged in; the host must present the pinned key.

        Raises:
            asyncssh.HostKeyNotVerifiable: the server's key is not `host_key`.
            asyncssh.Error, OSError: the login or the connection failed.
        """
        import asyncssh

        passphrase = self.passphrase.get_secret_value() if self.passphrase else None
        key = asyncssh.import_private_key(self.private_key.get_secret_value(), passphrase)
        pinned = asyncssh.import_public_key(self.host_key)
        return await asyncssh.connect(
            self.host,
            self.port,
            username=self.username,
            client_keys=[key],
            known_hosts=([pinned], [], []),
            agent_path=None,
            connect_timeout=self.connect_timeout,
        )
