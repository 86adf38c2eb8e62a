"""The Prefect blocks a task may name (`secret_env`, `auth_block`, an integration's `block`), by
type and name only: their values, secret or not, are never read here (`include_secrets=False`,
and only the names are kept).
"""

from __future__ import annotations

from dataclasses import dataclass

from prefect.client.orchestration import PrefectClient

SECRET_BLOCK_TYPE = "secret"
PAGE = 200


@dataclass(frozen=True, order=True)
class BlockName:
    """A saved block: its type's slug (`secret`, `http-bearer-auth`) and its name."""

    type: str
    name: str

    @property
    def reference(self) -> str:
        """As `auth_block` names it: `type/name`."""
        return f"{self.type}/{self.name}"


async def block_names(client: PrefectClient) -> list[BlockName]:
    """Every named block on the server, by type then name (anonymous ones, which Prefect makes for
    itself, left out)."""
    found: set[BlockName] = set()
    offset = 0
    while True:
        documents = await client.read_block_documents(offset=offset, limit=PAGE, include_secrets=False)
        for document in documents:
            if document.is_anonymous or not document.name:
                continue
            slug = document.block_type.slug if document.block_type else (document.block_type_name or "")
            found.add(BlockName(slug, document.name))
        if len(documents) < PAGE:
            return sorted(found)
        offset += PAGE
