"""`tasklane listen`: answer chat commands in Mattermost with Tasklane's operations.

`integrations.mattermost.CommandListener` does the chat side (websocket, reconnects, catch-up,
who may ask, `help`); this module maps its commands onto `tasklane.tasks.lookup`:

- `run NAME`    → `run_task`: a flow run of the task's deployment is created now, on the audit
  trail as `chat:<username>` (`tasklane.tasks.audit`);
- `status NAME` → `show_task`: the task's schedule, next run and latest runs;
- `list [TEXT]` → `list_tasks`: the tasks (whose name or group contains TEXT);
- `report`      → the latest runs of every task, counted by state.

The answers are markdown, posted in the command's thread. Only the tasks of the settings'
`project` are visible (the same ones `tasklane list` shows).
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import httpx

from blocks.mattermost import MattermostCredentials
from deployments.apply import Target
from deployments.errors import DeploymentsError
from integrations.mattermost import ChatCommand, CommandListener
from tasklane.settings import get_settings
from tasklane.tasks.audit import audited, chat_actor
from tasklane.tasks.lookup import list_tasks, recent_runs, run_task, show_task

CHANNEL_ID = re.compile(r"^[a-z0-9]{26}$")
REPORT_RUNS = 10
LIST_LIMIT = 50


def default_target() -> Target:
    """The pool, timezone and project of Tasklane's settings (as `tasklane list` uses them)."""
    settings = get_settings()
    return Target(work_pool=settings.pool.name, timezone=settings.timezone, project=settings.project)


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value else "-"


def _cell(value: Any) -> str:
    """Text safe inside a markdown table cell."""
    return str(value if value not in (None, "") else "-").replace("|", "\\|").replace("\n", " ")


def _table(headers: list[str], rows: Iterable[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def build_command_handler(
    target: Target | None = None,
    *,
    api_url: str | None = None,
    ui_url: str | None = None,
) -> Callable[[ChatCommand], str]:
    """A `CommandListener` handler answering run/status/list/report from the Prefect server.

    Args:
        target: whose tasks (project); `default_target()` when None.
        api_url: the Prefect API; Prefect's configured one when None.
        ui_url: base URL of the Prefect UI for links; derived from the API URL when None.

    Returns:
        `handler(command) -> markdown`. It runs in the listener's worker thread, one command at a
        time, and returns as soon as a run is created (it never waits for the run).

    Examples:
        >>> handler = build_command_handler(Target("tasklane", "UTC", "default"))  # doctest: +SKIP
        >>> handler(ChatCommand("list", None, "list", "p1", "p1", "c1", "u1", "alice"))  # doctest: +SKIP
        '| task | type | schedule | next run | last state |\\n...'
    """

    def client():
        from prefect.client.orchestration import PrefectClient, get_client

        return PrefectClient(api_url) if api_url else get_client()

    def ui_base(client_api_url: str) -> str:
        if ui_url:
            return ui_url.rstrip("/")
        base = str(client_api_url).rstrip("/")
        return base[: -len("/api")] if base.endswith("/api") else base

    async def answer(command: ChatCommand) -> str:
        scope = target or default_target()
        async with client() as prefect:
            if command.name == "run":
                assert command.argument  # parse_command requires a task name
                actor = chat_actor(command.username)
                change = {"run": True, "channel": command.channel_id, "post": command.post_id}
                audit = audited(
                    "task.run", command.argument, actor, project=scope.project, client=prefect, change=change
                )
                async with audit as record:  # one audit event by chat:<username>, success or failure
                    flow_run = await run_task(prefect, command.argument, target=scope)
                    record.update(deployment_id=flow_run.deployment_id, result=f"ok; run {flow_run.id}")
                link = f"{ui_base(prefect.api_url)}/runs/flow-run/{flow_run.id}"
                return (
                    f"Started **{command.argument}** for @{command.username}: run "
                    f"[{flow_run.name}]({link}) ({flow_run.state_name or 'Scheduled'})."
                )
            if command.name == "status":
                assert command.argument
                detail = await show_task(prefect, command.argument, target=scope)
                row = detail.row
                head = (
                    f"**{row.name}** ({row.type}, group {row.group}, priority {row.priority})"
                    f"{'' if row.enabled else ' — disabled'}\n"
                    f"schedule: {row.schedule} · next run: {_when(row.next_run)}"
                )
                if not detail.recent_runs:
                    return head + "\nno runs yet."
                base = ui_base(prefect.api_url)
                runs = [
                    [
                        f"[{run.name}]({base}/runs/flow-run/{run.id})",
                        run.state_name,
                        _when(run.start_time or run.expected_start_time),
                        f"{run.total_run_time.total_seconds():.1f} s",
                    ]
                    for run in detail.recent_runs[:5]
                ]
                return head + "\n\n" + _table(["run", "state", "started", "duration"], runs)
            rows = await list_tasks(prefect, scope)
            if command.name == "list":
                wanted = (command.argument or "").lower()
                if wanted:
                    rows = [r for r in rows if wanted in r.name.lower() or wanted in (r.group or "").lower()]
                if not rows:
                    return (
                        f"No tasks{f' matching {wanted!r}' if wanted else ''} in project {scope.project!r}."
                    )
                shown = [
                    [
                        r.name + ("" if r.enabled else " (disabled)"),
                        r.type,
                        r.schedule,
                        _when(r.next_run),
                        r.last_state,
                    ]
                    for r in rows[:LIST_LIMIT]
                ]
                more = f"\n… and {len(rows) - LIST_LIMIT} more" if len(rows) > LIST_LIMIT else ""
                return _table(["task", "type", "schedule", "next run", "last state"], shown) + more
            if command.name == "report":
                if not rows:
                    return f"No tasks in project {scope.project!r}."
                lines = []
                for r in rows[:LIST_LIMIT]:
                    runs = await recent_runs(prefect, r.deployment_id, limit=REPORT_RUNS)
                    counts = Counter(run.state_name or "?" for run in runs)
                    tally = ", ".join(f"{n} {state}" for state, n in counts.most_common()) or "no runs"
                    lines.append([r.name, r.last_state, _when(r.last_run), tally])
                return f"Latest runs (up to {REPORT_RUNS} per task):\n\n" + _table(
                    ["task", "last state", "last run", f"last {REPORT_RUNS} runs"], lines
                )
            return f"`{command.name}` is not something I can do; try `help`."

    def handler(command: ChatCommand) -> str:
        try:
            # The listener calls us in a worker thread without an event loop: one loop per command.
            return asyncio.run(answer(command))
        except DeploymentsError as exc:
            return f"Sorry @{command.username}: {exc}"
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            return f"Sorry, the Prefect server does not answer ({exc}); is Tasklane up?"

    return handler


def make_listener(
    block_name: str,
    allowed_users: Iterable[str] = (),
    allowed_channels: Iterable[str] = (),
    channels: Iterable[str] = (),
    reconnect_interval: float = 5.0,
    *,
    target: Target | None = None,
    handler: Callable[[ChatCommand], str] | None = None,
    api_url: str | None = None,
) -> CommandListener:
    """A `CommandListener` on the bot of the `mattermost-credentials` block `block_name` (not started).

    Channels in `allowed_channels` and `channels` may be given by id or by name (a name is looked
    up in the block's team).

    Raises:
        ValueError: the block does not exist, or a channel name is given but the block has no team.
        AuthenticationError: the bot's token is refused. NotFoundError: no such channel.
    """
    try:
        block = MattermostCredentials.load(block_name, _sync=True)
    except ValueError as exc:
        raise ValueError(
            f"tasklane listen: cannot load the mattermost-credentials block {block_name!r}: {exc}"
        ) from exc
    mattermost = block.get_client()

    def channel_ids(values: Iterable[str]) -> list[str]:
        ids = []
        for value in values:
            if CHANNEL_ID.match(value):
                ids.append(value)
            elif not block.team:
                raise ValueError(
                    f"tasklane listen: channel {value!r} is a name, but the block {block.label} has no "
                    "team to look it up in; give the channel id or set the block's team"
                )
            else:
                ids.append(mattermost.channel_id(block.team, value))
        return ids

    return CommandListener(
        mattermost,
        handler or build_command_handler(target, api_url=api_url),
        channels=channel_ids(channels),
        allowed_users=list(allowed_users),
        allowed_channels=channel_ids(allowed_channels),
        reconnect_interval=reconnect_interval,
    )


def run_listener(block_name: str, *args: Any, **kwargs: Any) -> None:
    """Listen and answer until interrupted (Ctrl-C) or the bot's token is refused; the
    arguments are `make_listener`'s.

    Raises:
        AuthenticationError: the token was refused (reconnecting cannot help).
        ValueError: see `make_listener`.
    """
    make_listener(block_name, *args, **kwargs).run()
