"""Prefect blocks of Tasklane: credentials live here, never in the catalog.

Registered with `prefect block register -m blocks` (and found by Prefect through the
`prefect.collections` entry point).
"""

from blocks.http_auth import HttpBasicAuth, HttpBearerAuth

__all__ = ["HttpBasicAuth", "HttpBearerAuth"]
