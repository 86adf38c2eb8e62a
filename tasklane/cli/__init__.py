"""`tasklane`: the command line, one typer sub-app per noun, merged into one command.

- `catalog`: validate, apply, preview, types, template list|show, new;
- `tasks`: list, show, enable, disable, delete, clone, export, run;  `trash`: trash list|restore|purge;
- `runs`: history, upcoming, logs, cancel, explain;
- `reports`: stats, report;
- `stack`: up, down, api;  `tokens`: token create|list|revoke;  `users`: user add|list|remove|passwd;
  `chat`: listen;
- `sources`: sources list|sync|show (external task sources);
- `audit`: audit (the change trail; every changing command above is on it as `os:<user>`).

It talks to the Prefect server that Prefect's own settings name (PREFECT_API_URL, the
project's prefect.toml written by `tasklane up`, or the active profile).

A command imports the heavier modules it alone needs (the API's FastAPI app, the report flow,
the stack, the chat bot) inside its body, so every other command starts without them.

May import the product's packages (`tasklane.tasks`, `tasklane.history`, `tasklane.reports`,
`tasklane.stack`, `tasklane.chat`, `tasklane.api` to serve it), `deployments` and
`tasklane.settings`; nothing imports the CLI.
"""

from __future__ import annotations

import sys

import typer

from tasklane.cli import audit, catalog, chat, reports, runs, sources, stack, tasks, tokens, trash, users

app = typer.Typer(
    help="Tasklane: a task catalog on Prefect 3.", no_args_is_help=True, pretty_exceptions_enable=False
)
for noun in (catalog, tasks, trash, runs, reports, stack, tokens, users, chat, audit, sources):
    app.add_typer(noun.app)


def main() -> None:  # pragma: no cover - console entry point
    sys.exit(app())
