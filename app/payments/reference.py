"""The hook reference in README.md, rendered from app/payments/hookspecs.py so that the two never drift.

``python -m app.payments.reference`` rewrites the part of README.md between the markers;
``--check`` only says whether it is up to date (a test fails when it is not).
"""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.payments import hookspecs

README = Path(__file__).resolve().parents[2] / "README.md"
BEGIN = "<!-- hook-reference:begin: generated from app/payments/hookspecs.py by `python -m app.payments.reference` -->"
END = "<!-- hook-reference:end -->"
_FIELD = re.compile(r":(param (?P<name>\w+)|returns):\s*")


def hook_specs() -> list[tuple[str, Callable[..., Any]]]:
    """Every hook spec, in the order of the spec file."""
    marker = f"{hookspecs.PROJECT_NAME}_spec"
    return [(name, value) for name, value in vars(hookspecs).items() if hasattr(value, marker)]


def render() -> str:
    """The reference in Markdown: per hook its signature, whether the first answer wins, and its docstring."""
    sections = []
    for name, spec in hook_specs():
        options = getattr(spec, f"{hookspecs.PROJECT_NAME}_spec")
        parameters = ", ".join(
            f"{p.name}: {p.annotation}" for p in inspect.signature(spec).parameters.values()
        )
        returns = inspect.signature(spec).return_annotation
        kind = "firstresult hook" if options["firstresult"] else "broadcast hook: every plugin is called"
        sections.append(
            f"#### `{name}`\n\n```python\ndef {name}({parameters}) -> {returns}\n```\n\n"
            f"*{kind}*\n\n{_markdown(inspect.getdoc(spec) or '')}"
        )
    return "\n\n".join(sections)


def spliced(text: str) -> str:
    """text with the part between the markers replaced by the current reference."""
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return f"{text[:start]}\n\n{render()}\n\n{text[end:]}"


def main(argv: list[str]) -> int:
    text = README.read_text(encoding="utf-8")
    current = spliced(text)
    if current == text:
        return 0
    if "--check" in argv:
        print(f"{README} is out of date: run python -m app.payments.reference", file=sys.stderr)
        return 1
    README.write_text(current, encoding="utf-8")
    return 0


def _markdown(doc: str) -> str:
    # ":param x: …" and ":returns: …" (with their continuation lines) become a list; the rest stays prose.
    prose: list[str] = []
    fields: list[str] = []
    for line in doc.splitlines():
        match = _FIELD.match(line)
        if match:
            label = f"`{match['name']}`" if match["name"] else "returns"
            fields.append(f"- {label}: {line[match.end() :]}")
        elif fields and line.startswith(" "):
            fields[-1] += f" {line.strip()}"
        else:
            prose.append(line)
    return "\n".join(prose).strip() + ("\n\n" + "\n".join(fields) if fields else "")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
