"""A griffe extension for the API reference: doctest lines (``>>>`` and their output) that stand
in a docstring's text become fenced ``pycon`` code, so they render as code and their output is
never read as Markdown (``[W1 W2]`` would otherwise look like a link). The sources are unchanged:
``pytest --doctest-modules`` still runs the same examples.
"""

from __future__ import annotations

from typing import Any

import griffe


def fence_doctests(text: str) -> str:
    """``text`` with every run of doctest lines (a ``>>>`` line up to the next blank line) fenced."""
    out: list[str] = []
    lines = text.splitlines()
    in_fence = False
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.lstrip()
        if stripped.startswith("```"):
            in_fence = not in_fence
        if in_fence or not stripped.startswith(">>>"):
            out.append(line)
            i += 1
            continue
        indent = line[: len(line) - len(stripped)]
        block = []
        while i < len(lines) and lines[i].strip() and lines[i].startswith(indent):
            block.append(lines[i])
            i += 1
        out += ["", f"{indent}```pycon", *block, f"{indent}```", ""]
    return "\n".join(out)


class DoctestFences(griffe.Extension):
    """Fences the doctest lines of every docstring as it is loaded."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None and ">>>" in obj.docstring.value:
            obj.docstring.value = fence_doctests(obj.docstring.value)
