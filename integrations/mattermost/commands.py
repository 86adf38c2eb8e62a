"""The chat commands the bot understands, and how a message is read as one. Pure functions."""

from __future__ import annotations

from dataclasses import dataclass

COMMANDS: dict[str, str] = {
    "run": "run NAME: start task NAME now",
    "status": "status NAME: the last runs of task NAME",
    "list": "list: the tasks and their schedules",
    "report": "report: a summary of the runs since the last report",
    "help": "help: this text",
}
_NEEDS_ARGUMENT = {"run", "status"}


@dataclass(frozen=True)
class ChatCommand:
    """A command addressed to the bot, as the handler receives it."""

    name: str  # run, status, list, report or help
    argument: str | None  # the task name of run/status; free text after list/report
    text: str  # the command as typed, without the mention
    post_id: str
    root_id: str  # the thread the answer goes to
    channel_id: str
    user_id: str
    username: str


def parse_command(text: str) -> tuple[str, str | None] | None:
    """``(name, argument)`` of a command text, or None when it is not a well-formed command.

    Examples:
        >>> parse_command("run nightly-backup")
        ('run', 'nightly-backup')
        >>> parse_command("  LIST ")
        ('list', None)
        >>> parse_command("run") is None, parse_command("dance") is None
        (True, True)
    """
    words = text.strip().split(maxsplit=1)
    if not words:
        return None
    name = words[0].lower()
    argument = words[1].strip() if len(words) > 1 else None
    if name not in COMMANDS or (name in _NEEDS_ARGUMENT and not argument):
        return None
    return name, argument


def help_text(botname: str) -> str:
    lines = [f"Commands (mention @{botname}, or write to me directly):"]
    lines += [f"- `{usage.split(':')[0]}`:{usage.split(':', 1)[1]}" for usage in COMMANDS.values()]
    return "\n".join(lines)
