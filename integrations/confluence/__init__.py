"""Confluence pages and their tables, over atlassian-python-api. Plain Python, no Prefect.

A page is read in storage format; a table on it is found by the text of the heading directly above
it or by its header cells; its rows come back as records (one dict per row, keyed by the header
cells). Writing rows back splices the changed markup into the original storage string: every byte
outside the cells and rows that changed stays exactly as Confluence returned it (macros, layouts,
other tables, whitespace, entities). Concurrent edits (409) are re-read and re-applied.

- `pages`: `make_confluence_client` (bounded retries of 429/5xx), `ConfluencePages` (HTTP: Server/DC
  REST v1, Cloud REST v2; 409s re-applied; attachments);
- `tables`: `TableLocator`, `read_table`, `upsert_table`, `append_table` (pure, over a body);
- `storage`: the storage-format scanner and the splicing under them.

Import from here (``from integrations.confluence import read_table``); the modules are the layout.
"""

from integrations.confluence.pages import ConfluencePages, Page, WriteResult, make_confluence_client
from integrations.confluence.tables import (
    SERVICE,
    Table,
    TableEdit,
    TableLocator,
    append_table,
    find_tables,
    read_table,
    upsert_table,
)

__all__ = [
    "SERVICE",
    "ConfluencePages",
    "Page",
    "Table",
    "TableEdit",
    "TableLocator",
    "WriteResult",
    "append_table",
    "find_tables",
    "make_confluence_client",
    "read_table",
    "upsert_table",
]
