"""The Jira, Confluence and Mattermost credential blocks: Prefect's standard checks, clients, no leaks."""

from __future__ import annotations

import logging

import pytest
from prefect.blocks.core import Block
from pydantic import ValidationError

from blocks import ConfluenceCredentials, JiraCredentials, MattermostCredentials
from tests.blocks.conftest import standard_checks

SECRET = "s3cr3t-value-0123456789"


TestStandardChecks = standard_checks(JiraCredentials, ConfluenceCredentials, MattermostCredentials)


def all_blocks() -> list[Block]:
    return [
        JiraCredentials(url="https://jira.example.com/", username="bot", token=SECRET),
        ConfluenceCredentials(url="https://wiki.example.com", username="bot", token=SECRET),
        MattermostCredentials(url="https://mm.example.com", token=SECRET, team="ops", channel="alerts"),
    ]


@pytest.mark.parametrize("block", all_blocks(), ids=lambda b: type(b).__name__)
def test_secret_never_in_repr_str_or_logs(block: Block, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("tasklane.test").info("block %s / %r", block, block)
    print(block)
    assert SECRET not in repr(block) and SECRET not in str(block)
    assert SECRET not in block.model_dump_json()
    assert SECRET not in caplog.text
    assert block.token.get_secret_value() == SECRET


def test_clients_unwrap_the_secret() -> None:
    jira, confluence, mattermost = all_blocks()
    client = jira.get_client(timeout=7)
    assert client.url == "https://jira.example.com" and client.password == SECRET and not client.cloud
    pages = confluence.get_pages()
    assert pages.client.password == SECRET and pages.source == "confluence-credentials (unsaved)"
    mm = mattermost.get_client()
    assert mm.driver.options["token"] == SECRET and mm.url == "https://mm.example.com:443/api/v4"


def test_confluence_cloud_needs_the_account_email() -> None:
    with pytest.raises(ValidationError, match="Confluence Cloud signs in with the account e-mail"):
        ConfluenceCredentials(url="https://example.atlassian.net/wiki", token=SECRET, cloud=True)
    assert ConfluenceCredentials(url="https://wiki.example.com", token=SECRET).username is None  # a PAT


def test_pat_without_username_is_a_bearer_token() -> None:
    client = JiraCredentials(url="https://jira.example.com", token=SECRET).get_client()
    assert client.session.headers["Authorization"] == f"Bearer {SECRET}"


@pytest.mark.parametrize(
    "url", ["jira.example.com", "ftp://jira.example.com", "https://bot:pw@jira.example.com"]
)
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(ValidationError, match="URL"):
        JiraCredentials(url=url, token=SECRET)
