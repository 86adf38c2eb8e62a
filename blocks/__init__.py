"""Prefect blocks of Tasklane: credentials and alert senders live here, never in the catalog.

Registered with `prefect block register -m blocks` (and found by Prefect through the
`prefect.collections` entry point).
"""

from blocks.confluence import ConfluenceCredentials
from blocks.email import EmailNotification
from blocks.http_auth import HttpBasicAuth, HttpBearerAuth
from blocks.jira import JiraCredentials
from blocks.mattermost import MattermostCredentials
from blocks.ssh import SSHCredentials

__all__ = [
    "ConfluenceCredentials",
    "EmailNotification",
    "HttpBasicAuth",
    "HttpBearerAuth",
    "JiraCredentials",
    "MattermostCredentials",
    "SSHCredentials",
]
