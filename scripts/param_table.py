#!/usr/bin/env python3
"""Prints the node's parameters as a Markdown table (for the README), from the one table
in mot_ros.parameters, so the documentation cannot drift from what the node declares."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mot_ros.ros.parameters import PARAMETERS  # noqa: E402


def main() -> None:
    print("| parameter | default | range / choices | run-time | description |")
    print("|---|---|---|---|---|")
    for p in PARAMETERS:
        if p.choices:
            rng = " \\| ".join(p.choices)
        elif p.min is not None:
            rng = f"[{p.min:g}, {p.max:g}]"
        else:
            rng = ""
        default = f"`{p.default!r}`" if not isinstance(p.default, str) else f'`"{p.default}"`'
        writable = "" if p.read_only else "yes"
        print(f"| `{p.name}` | {default} | {rng} | {writable} | {p.description} |")


if __name__ == "__main__":
    main()
