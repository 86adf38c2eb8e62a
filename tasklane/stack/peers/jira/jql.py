"""The JQL the fake Jira understands: exactly the clauses Tasklane sends, parsed; the rest refused.

``project = X`` / ``!= X``, ``key``/``issuekey``/``id`` ``= X`` or ``in (...)``, ``parent in (...)``,
``"Epic Link" in (...)`` / ``cf[N] in (...)``, ``issuetype = X``, joined by ``AND``, then an optional
``ORDER BY key|issuekey|created|updated [ASC|DESC]``. Valid JQL beyond that (``OR``, ``~``,
functions...) is refused with a 400 that says the fake does not support it, so a test never passes
on a query the fake only pretends to run. `parse` checks the syntax; what the values mean (does the
project exist, may the caller see it) is the store's job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


class JqlError(Exception):
    """A query (or search parameter) the real Jira rejects: answered 400 with Jira's error body."""


@dataclass(frozen=True)
class Clause:
    field: str  # unquoted, as written (``project``, ``Epic Link``, ``cf[10100]``...)
    operator: str  # ``=``, ``!=`` or ``in``
    values: tuple[str, ...]  # unquoted


@dataclass(frozen=True)
class Query:
    clauses: tuple[Clause, ...]  # joined by AND; empty for an unbounded query
    order: str = "key"  # key, issuekey, created or updated
    descending: bool = False


ORDER_FIELDS = ("key", "issuekey", "created", "updated")
_UNSUPPORTED_WORDS = ("or", "not", "is", "was", "changed", "empty", "null")

_TOKEN_RE = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<cf>cf\[\d+\])
      | (?P<op>!=|!~|>=|<=|=|~|>|<|\(|\)|,)
      | (?P<word>[A-Za-z0-9_.\-]+)
    )""",
    re.VERBOSE | re.IGNORECASE,
)


def unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def tokenize(jql: str) -> list[tuple[str, int]]:
    """(token, offset) pairs; a reserved character or valid-but-unsupported JQL is a `JqlError`."""
    tokens: list[tuple[str, int]] = []
    pos = 0
    text = jql.rstrip()
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if not match or match.end() == pos:
            raise JqlError(
                f"Error in the JQL Query: The character '{text[pos:].strip()[:1]}' is a reserved JQL "
                f"character. (line 1, character {pos + 1})"
            )
        kind = match.lastgroup or "word"
        tokens.append((match.group(kind), match.start(kind)))
        pos = match.end()
    for token, at in tokens:
        if token.lower() in _UNSUPPORTED_WORDS or token in ("!~", "~"):
            raise JqlError(
                f"Error in the JQL Query: '{token}' (character {at + 1}) is valid JQL but not supported by "
                "this fake Jira; extend tasklane/stack/peers/jira/jql.py if Tasklane starts sending it."
            )
    return tokens


def parse(jql: str) -> Query:
    """The clauses and order of `jql`.

    Raises:
        JqlError: a syntax error, or JQL this fake does not run (with Jira's message where known).
    """
    tokens = tokenize(jql)
    pos = 0

    def peek() -> str | None:
        return tokens[pos][0] if pos < len(tokens) else None

    def take(expected: str | None = None) -> str:
        nonlocal pos
        if pos >= len(tokens):
            raise JqlError(f"Error in the JQL Query: the query ended unexpectedly (after {jql!r}).")
        token, at = tokens[pos]
        if expected is not None and token.lower() != expected:
            raise JqlError(
                f"Error in the JQL Query: Expecting '{expected}' but got '{token}'. "
                f"(line 1, character {at + 1})"
            )
        pos += 1
        return token

    clauses: list[Clause] = []
    while peek() is not None and (peek() or "").lower() != "order":
        if clauses:
            take("and")
        field = unquote(take())
        operator = take().lower()
        if operator in ("=", "!="):
            values = [take()]
        elif operator == "in":
            take("(")
            values = [take()]
            while peek() == ",":
                take(",")
                values.append(take())
            take(")")
        else:
            raise JqlError(
                f"Error in the JQL Query: the operator '{operator}' is not supported by this fake Jira "
                f"(only '=', '!=' and 'in'); query was {jql!r}."
            )
        if operator == "!=" and field.lower() != "project":
            raise JqlError(
                f"Error in the JQL Query: '!=' is valid JQL but this fake Jira supports it for "
                f"'project' only; query was {jql!r}."
            )
        clauses.append(Clause(field, operator, tuple(unquote(v) for v in values)))
    if peek() is None:
        return Query(tuple(clauses))
    take("order")
    take("by")
    name = unquote(take()).lower()
    if name not in ORDER_FIELDS:
        raise JqlError(f"Not able to sort using field '{name}'.")
    descending = False
    if (peek() or "").lower() in ("asc", "desc"):
        descending = take().lower() == "desc"
    if peek() is not None:
        raise JqlError(f"Error in the JQL Query: unexpected '{peek()}' after ORDER BY in {jql!r}.")
    return Query(tuple(clauses), name, descending)
