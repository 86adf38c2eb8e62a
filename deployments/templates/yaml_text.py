"""YAML and command-line text of values: how templates, tasks and parameter values are written out."""

from __future__ import annotations

from typing import Any

import yaml


class _BlockDumper(yaml.SafeDumper):
    """Block style, lists indented under their key, multi-line strings as `|` blocks."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        return super().increase_indent(flow, False)


def _str_representer(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_BlockDumper.add_representer(str, _str_representer)


def dump_block(data: Any) -> str:
    """`data` as block-style YAML, in the key order given."""
    return yaml.dump(data, Dumper=_BlockDumper, sort_keys=False, allow_unicode=True, width=110)


def yaml_inline(value: Any) -> str:
    """`value` as one line of flow-style YAML (for messages and summaries)."""
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10_000).strip()
    return text.removesuffix("\n...").removesuffix("...").strip()


def cli_value(value: Any) -> str:
    """`value` as `--set k=VALUE` takes it back: a list comma-separated, a boolean true/false."""
    if isinstance(value, list):
        return ",".join(cli_value(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def indented(text: str, indent: int) -> str:
    """`text` with every non-blank line indented by `indent` spaces."""
    pad = " " * indent
    return "".join(pad + line if line.strip() else line for line in text.splitlines(keepends=True))
