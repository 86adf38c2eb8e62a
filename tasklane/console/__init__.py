"""The Tasklane console: the scheduler in a browser, served by `tasklane api` on its own port.

Server-rendered pages (FastAPI + Jinja2) made live with htmx, every asset shipped in the package
(`static/`, versions and licences in `static/vendor/README.md`), nothing loaded from the
internet. Users sign in with a password (`tasklane user add|list|remove|passwd`, argon2 hashes
in `console-users.json`); they have the roles and group grants of the API's tokens and act
through the same operations (`tasklane.tasks`, `tasklane.history`), audited as `user:<name>`.

- `users`: the users file; `sessions`: the signed session cookie, CSRF, failed sign-ins;
- `i18n`: English and Simplified Chinese (`catalogs/*.json`);
- `pages`: the pages, and `mount(app)`, which adds them to the REST API's app.

A front end, like the API and the CLI: it may import the API (for its roles), the operations,
deployments and settings; only the API's app imports it, to mount it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

    from tasklane.settings import Settings


def mount(app: FastAPI, settings: Settings | None = None) -> None:
    """Add the console's pages (under /console, `/` leading there) and assets (/static/console)
    to the API's app; see `tasklane.console.pages.mount`."""
    from tasklane.console.pages import mount as mount_pages

    mount_pages(app, settings)
