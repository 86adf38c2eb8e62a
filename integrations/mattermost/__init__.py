"""Mattermost messages and a chat-command listener, over mattermostdriver. Plain Python, no Prefect.

- `rest`: `make_mattermost_driver` (REST with bounded retries of 429/5xx and our errors) and
  `Mattermost` (post a message, look up channels, users and posts);
- `commands`: the commands the bot understands (`ChatCommand`, `parse_command`);
- `listener`: `CommandListener`, what ``tasklane listen`` runs: the websocket, reconnects with
  backoff, and the catch-up over REST so that no command is lost and none is run twice.

Import from here (``from integrations.mattermost import Mattermost``); the modules are the layout.
"""

from integrations.mattermost.commands import COMMANDS, ChatCommand, help_text, parse_command
from integrations.mattermost.listener import CommandListener
from integrations.mattermost.rest import MAX_MESSAGE_CHARS, SERVICE, Mattermost, make_mattermost_driver

__all__ = [
    "COMMANDS",
    "MAX_MESSAGE_CHARS",
    "SERVICE",
    "ChatCommand",
    "CommandListener",
    "Mattermost",
    "help_text",
    "make_mattermost_driver",
    "parse_command",
]
