"""The shell-quoting linter: refuses a shell command whose substituted values could escape their argument.

In a shell task's `command`, every `{{ ... }}` must end in `| quote` and stand outside '...' and
"..." (where the quoting would be undone), unless it uses only integer, number, boolean or
duration parameters (or `name`). A template that breaks this is refused when it is loaded, so a
value stays one argument whatever it contains (`; rm -rf /`, `$(...)`). To use a value inside a
string, assign it first: `dir={{ directory | quote }}` then `"$dir"`.
"""

from __future__ import annotations

from collections.abc import Iterator

from jinja2 import TemplateError, nodes

from deployments.templates.jinja_env import environment
from deployments.templates.parameters import ParamSpec

# Values of these types cannot hold shell metacharacters once validated.
SHELL_SAFE_TYPES = {"integer", "number", "boolean", "duration"}
# Filters whose result is safe in a shell command whatever their input.
SHELL_SAFE_FILTERS = {"quote", "int", "float", "length", "count", "seconds"}
_CONTEXT_NAMES = {"single": "inside '...'", "double": 'inside "..."', "comment": "in a comment"}


def placeholders(text: str) -> Iterator[tuple[str, str]]:
    """Each `{{ ... }}` of a shell command with its shell context.

    Contexts: 'word' (safe for a quoted value), 'single' or 'double' (inside '...' or "..."),
    'comment', or 'after \\' / 'after $' (a quoted value there loses its opening quote). A small
    shell lexer: quotes, backslashes, comments and `$( ... )` (a fresh context, also inside double
    quotes); Jinja tags are opaque.
    """
    stack = ["word"]
    index, size = 0, len(text)
    closers = {"{{": "}}", "{%": "%}", "{#": "#}"}
    while index < size:
        pair = text[index : index + 2]
        if pair in closers:
            end = text.find(closers[pair], index + 2)
            end = size if end < 0 else end + 2
            if pair == "{{":
                context = stack[-1]
                if context == "word" and index and text[index - 1] in "\\$":
                    context = f"after {text[index - 1]}"
                yield text[index:end], context
            index = end
            continue
        char, state = text[index], stack[-1]
        escapes = char == "\\" and text[index + 1 : index + 3] not in closers
        if state == "comment":
            if char == "\n":
                stack.pop()
        elif state == "single":
            if char == "'":
                stack.pop()
        elif state == "double":
            if escapes:
                index += 1
            elif char == '"':
                stack.pop()
            elif pair == "$(":
                stack.append("word")
                index += 1
        elif escapes:
            index += 1
        elif char == "'":
            stack.append("single")
        elif char == '"':
            stack.append("double")
        elif pair == "$(":
            stack.append("word")
            index += 1
        elif char == ")" and len(stack) > 1:
            stack.pop()
        elif char == "#" and (index == 0 or text[index - 1] in " \t\n;"):
            stack.append("comment")
        index += 1


def shell_problems(text: str, params: dict[str, ParamSpec]) -> list[str]:
    """Why the values a shell command substitutes could escape their argument (none: it is safe).

    Safe: `{{ x | quote }}` as a word of its own (not inside '...' or "..."), or an expression using
    only integer, number, boolean and duration parameters (or `name`), anywhere.
    """
    env = environment()
    found: list[str] = []
    for placeholder, context in placeholders(text):
        try:
            ast = env.parse(placeholder)
        except TemplateError:
            continue  # reported as a syntax error
        for output in ast.find_all(nodes.Output):
            for expr in output.nodes:
                if isinstance(expr, nodes.TemplateData | nodes.Const):
                    continue
                names = [n.name for n in expr.find_all(nodes.Name) if n.ctx == "load"]
                if isinstance(expr, nodes.Name):
                    names = [expr.name]
                if names and all(
                    name == "name" or (name in params and params[name].type in SHELL_SAFE_TYPES)
                    for name in names
                ):
                    continue
                shown = " ".join(placeholder.split())
                if context != "word":
                    found.append(
                        f"puts {shown} {_CONTEXT_NAMES.get(context, context)}, where quoting cannot "
                        'protect it; assign it to a variable first (v={{ ... | quote }}) and write "$v"'
                    )
                elif not (isinstance(expr, nodes.Filter) and expr.name in SHELL_SAFE_FILTERS):
                    found.append(
                        f"puts {shown} into the command unquoted; end it with | quote (only integer, "
                        "number, boolean and duration parameters may stay unquoted)"
                    )
    return found
