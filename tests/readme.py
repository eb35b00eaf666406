"""The README's runnable examples: `sh` blocks preceded by a `<!-- runnable -->` line.

The marker is an HTML comment, so readers of the rendered README do not see it; blocks
without it (installing, PostgreSQL, containers) are left alone.
"""

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

MARKER = "<!-- runnable -->"
_FENCE = re.compile(r"^(\s*)```(\w*)\s*$")


@dataclass(frozen=True)
class Example:
    line: int  # of the opening fence, 1-based
    code: str


def runnable_examples(text: str) -> list[Example]:
    lines = text.splitlines()
    examples: list[Example] = []
    index = 0
    while index < len(lines):
        if lines[index].strip() != MARKER:
            index += 1
            continue
        opening = _FENCE.match(lines[index + 1]) if index + 1 < len(lines) else None
        if opening is None or opening.group(2) != "sh":
            raise ValueError(f"line {index + 1}: {MARKER} must precede a ```sh block")
        indent = opening.group(1)
        body: list[str] = []
        end = index + 2
        while end < len(lines) and lines[end].rstrip() != f"{indent}```":
            body.append(lines[end])
            end += 1
        if end == len(lines):
            raise ValueError(f"line {index + 2}: the block is not closed")
        examples.append(Example(line=index + 2, code=textwrap.dedent("\n".join(body))))
        index = end + 1
    return examples


def readme_examples(path: Path) -> list[Example]:
    return runnable_examples(path.read_text())
