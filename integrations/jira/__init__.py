"""Jira issue trees over atlassian-python-api (plain Python, no Prefect).

The seed's JIRA_TASK_EXP job, done for real: from a root ticket, a project key or a JQL query,
build the multi-level tree of issues below it and return plain dataclasses that
`integrations.jira_excel` turns into the "Root Issues" / "Child Issues" workbook.

- `client`: `make_jira_client` (bounded retries of 429/5xx), `check_connection`, and how a failed
  call becomes an `integrations.errors` class naming the Jira, the request and what Jira said;
- `model`: `Issue`, `IssueTree`, `TreeOptions`, `LinkRule`;
- `fields`: reading Jira's issue payloads (the fields asked for, links followed, dates);
- `tree`: `fetch_issue_tree`, the walk itself.

Import from here (``from integrations.jira import fetch_issue_tree``); the modules are the layout.
"""

from integrations._http import RetryPolicy
from integrations.jira.client import SERVICE, check_connection, make_jira_client
from integrations.jira.fields import BASE_FIELDS, EPIC_LINK_SCHEMA, parse_jira_date, parse_jira_datetime
from integrations.jira.model import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_PAGE_SIZE,
    DONE_CATEGORY,
    Issue,
    IssueTree,
    LinkRule,
    TreeOptions,
)
from integrations.jira.tree import fetch_issue_tree

__all__ = [
    "BASE_FIELDS",
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_PAGE_SIZE",
    "DONE_CATEGORY",
    "EPIC_LINK_SCHEMA",
    "SERVICE",
    "Issue",
    "IssueTree",
    "LinkRule",
    "RetryPolicy",
    "TreeOptions",
    "check_connection",
    "fetch_issue_tree",
    "make_jira_client",
    "parse_jira_date",
    "parse_jira_datetime",
]
