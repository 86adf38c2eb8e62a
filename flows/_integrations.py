"""What the flows that talk to Jira, Confluence and Mattermost share.

- `load_block` / `load_credentials`: a block loaded by the name a task or setting gives (flows
  and tasks take block names, never the secrets themselves); `call_sync` for Prefect's other
  functions with a sync and an async path (the artifacts);
- `run_integration_job`: the body of the `jira_export`, `confluence_table` and
  `mattermost_notify` flows: the run placeholders filled, the job run under the task's policy
  (refused credentials and other permanent errors not retried), the artifacts recorded;
- `mattermost_destination` and `confluence_page_url`: where a post goes, where a page is.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar, cast

from prefect.blocks.core import Block

from deployments.integration_jobs import retry_unless, run_placeholders
from deployments.policy import RunPolicy
from flows._runtime import run_job
from flows.errors import BadCredentialsBlock

B = TypeVar("B", bound=Block)

CHANNEL_ID = re.compile(r"^[a-z0-9]{26}$")


def call_sync(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """`fn(*args, **kwargs)` on its sync path, for a Prefect function with a sync and an async one.

    `Block.load`, `create_table_artifact` and the like are wrapped by Prefect's async_dispatch,
    which picks the path from the caller's context unless told with `_sync=True`; their types
    hide that flag (and say `R | Coroutine`), hence the cast: with it they return R itself.
    """
    return cast(Callable[..., Any], fn)(*args, _sync=True, **kwargs)


def load_block(block_type: type[B], name: str) -> B:
    """The `block_type` document `name`, loaded synchronously.

    Raises:
        ValueError: no such block document.
    """
    return cast(B, call_sync(block_type.load, name))


def load_credentials(block_type: type[B], name: str, task_type: str, example: str) -> B:
    """The credentials block `name`, or a BadCredentialsBlock saying how to save one.

    `example` is the constructor call shown in the message, e.g. `JiraCredentials(url=..., token=...)`.
    """
    try:
        return load_block(block_type, name)
    except ValueError as exc:
        raise BadCredentialsBlock(
            f"{task_type}: cannot load the {block_type.get_block_type_slug()} block {name!r}: {exc}. "
            f"Save it first, e.g. {example}.save({name!r})"
        ) from exc


def run_integration_job(
    fn: Callable[[Any, dict[str, str]], dict[str, Any]],
    policy: RunPolicy,
    name: str,
    job: Any,
    record: Callable[[dict[str, Any], str], dict[str, Any]],
) -> Any:
    """A sync flow's body: `fn(job, placeholders)` under the policy, then `record(result, task)`.

    `record` keeps the run's artifacts and returns what the run keeps. Errors no retry can mend
    (refused credentials, a missing block, an unknown page or channel...) fail at once.
    """
    values = run_placeholders()
    return run_job(
        fn,
        policy,
        name,
        job,
        values,
        retry_condition_fn=retry_unless(BadCredentialsBlock),
        on_result=lambda result: record(result, values["task"]),
    )


def mattermost_destination(
    channel: str | None, team: str | None, no_channel: str, no_team: str
) -> tuple[str | None, str, str | None]:
    """(team, channel, channel_id) of a post; the id is None for a channel name (look it up in team).

    Raises:
        ValueError: `no_channel` without a channel, `no_team` for a channel name without a team.
    """
    if not channel:
        raise ValueError(no_channel)
    if CHANNEL_ID.match(channel):
        return team, channel, channel
    if not team:
        raise ValueError(no_team)
    return team, channel, None


def confluence_page_url(base_url: str, page_id: str) -> str:
    """The page in the browser (Server and Cloud both serve viewpage.action below the base URL)."""
    return f"{base_url}/pages/viewpage.action?pageId={page_id}"
