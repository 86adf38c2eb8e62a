"""The `mattermost_notify` task type: a markdown message posted to a Mattermost channel.

The flow loads the `mattermost-credentials` block the task names, fills the run placeholders
into the message, posts it (to the task's channel, else the block's default channel; by id, or
by name within the task's or the block's team) and records a markdown artifact with the post id
and its permalink. Rate limits and server errors left over after the client's own retries are
retried by the task's policy; a refused token or an unknown channel fails at once.
"""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from blocks.mattermost import MattermostCredentials
from deployments.integration_jobs import MattermostNotifyJob, artifact_key, fill_placeholders
from deployments.policy import RunPolicy
from flows._integrations import call_sync, load_credentials, mattermost_destination, run_integration_job
from flows._runtime import DEFAULT_POLICY, name_after_task

PREVIEW_CHARS = 500


def destination(job: MattermostNotifyJob, block: MattermostCredentials) -> tuple[str | None, str, str | None]:
    """(team, channel, channel_id) of the post: the job's, else the block's defaults.

    Raises:
        ValueError: no channel anywhere, or a channel name without a team to look it up in.
    """
    channel = job.channel or block.channel
    return mattermost_destination(
        channel,
        job.team or block.team,
        no_channel=f"mattermost_notify: no channel; set 'channel' on the task or on the block {block.label}",
        no_team=(
            f"mattermost_notify: channel {channel!r} is a name, which needs a team; set 'team' on the "
            f"task or on the block {block.label}, or give the channel's 26-character id"
        ),
    )


def notify(job: MattermostNotifyJob, values: dict[str, str]) -> dict[str, Any]:
    """Post the message; the post id, its channel and permalink are the result."""
    block = load_credentials(
        MattermostCredentials,
        job.block,
        "mattermost_notify",
        "MattermostCredentials(url=..., token=..., team=..., channel=...)",
    )
    mattermost = block.get_client()
    team, channel, channel_id = destination(job, block)
    if channel_id is None:
        assert team is not None  # destination() insists on a team for a channel name
        channel_id = mattermost.channel_id(team, channel)
    message = fill_placeholders(job.message, values)
    post_id = mattermost.post_message(message, channel_id=channel_id, root_id=job.root_id)
    permalink = f"{block.url}/{team}/pl/{post_id}" if team else None
    print(f"posted {post_id} to channel {channel} ({channel_id}) on {block.url}")
    return {
        "post_id": post_id,
        "channel": channel,
        "channel_id": channel_id,
        "team": team,
        "permalink": permalink,
        "message": message,
    }


def record_post(result: dict[str, Any], task: str) -> dict[str, Any]:
    """A markdown artifact: where the message went, its link, and the start of its text.

    The run keeps the whole result.
    """
    preview = result["message"][:PREVIEW_CHARS] + ("…" if len(result["message"]) > PREVIEW_CHARS else "")
    where = (
        f"[{result['post_id']}]({result['permalink']})" if result["permalink"] else f"`{result['post_id']}`"
    )
    quoted = "\n".join(f"> {line}" for line in preview.splitlines())
    call_sync(
        create_markdown_artifact,
        markdown=(
            f"### Mattermost post of `{task}`\n\n- post {where}\n- channel `{result['channel']}`\n\n{quoted}"
        ),
        key=artifact_key("mattermost-post", task),
        description=f"Mattermost post of {task}",
    )
    return result


@flow(name="mattermost_notify", flow_run_name=name_after_task, log_prints=True)
def mattermost_notify_flow(job: MattermostNotifyJob, policy: RunPolicy = DEFAULT_POLICY) -> Any:
    """Post a Mattermost message with the task's retries and timeout."""
    return run_integration_job(notify, policy, "mattermost-post", job, record_post)
