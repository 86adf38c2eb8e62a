"""`tasklane api`: the old systems' REST API over the Prefect server (see tasklane/api/app.py)."""

from tasklane.api.app import create_app, serve
from tasklane.api.auth import create_token, list_tokens, revoke_token
from tasklane.api.settings import ApiSettings, load_api_settings

__all__ = [
    "ApiSettings",
    "create_app",
    "create_token",
    "list_tokens",
    "load_api_settings",
    "revoke_token",
    "serve",
]
