"""The SSHCredentials block: Prefect's standard block checks (the connection is tests/flows/test_ssh.py's)."""

from __future__ import annotations

from blocks.ssh import SSHCredentials
from tests.blocks.conftest import standard_checks

TestSSHCredentialsIsAStandardBlock = standard_checks(SSHCredentials)
