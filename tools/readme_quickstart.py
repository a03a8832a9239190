"""Print the commands of README.md's Quick start block, one per line (what .ci/run executes, verbatim).

The block is the first fenced code block after the "## Quick start" heading; blank lines and comments are skipped.
Exits non-zero, naming the problem, when the heading or the block is missing or the block does not hold exactly two
commands (the main job, then the full tests).
"""
from __future__ import annotations

import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_BLOCK = re.compile(r"^#+\s*quick\s*-?\s*start[^\n]*\n(?:.*?\n)??```[a-z]*\n(.*?)^```", re.I | re.M | re.S)


def quickstart_commands(readme: str) -> list[str]:
    """The non-blank, non-comment lines of the Quick start block of a README's text."""
    m = _BLOCK.search(readme)
    if m is None:
        raise ValueError("README.md has no '## Quick start' heading followed by a fenced code block")
    return [line.strip() for line in m.group(1).splitlines() if line.strip() and not line.strip().startswith("#")]


def main() -> int:
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "README.md")
    with open(path, encoding="utf-8") as f:
        commands = quickstart_commands(f.read())
    if len(commands) != 2:
        print(f"{path}: the Quick start block must hold exactly two commands, found {len(commands)}: {commands}",
              file=sys.stderr)
        return 1
    print("\n".join(commands))
    return 0


if __name__ == "__main__":
    sys.exit(main())
