#!/usr/bin/env python3
"""Every speed figure the issues name, each as a ratio to a reference measured in the same run.

Run it with the project's virtualenv: ``.venv/bin/python bench/run.py`` (``--only NAME`` for one group,
``--json`` for machine-readable figures). Each group is a module ``bench/bench_<name>.py`` with a
``run() -> list[Figure]`` function. References that are not part of onboard (aws-gate) are installed into
bench/.venv-ref on first use, never into the project's environment.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from dataclasses import asdict

from benchlib import BENCH, Figure


def groups() -> list[str]:
    return sorted(path.stem.removeprefix("bench_") for path in BENCH.glob("bench_*.py"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=groups(), action="append", help="run only these groups")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    figures: list[Figure] = []
    for name in args.only or groups():
        group = importlib.import_module(f"bench_{name}").run()
        figures.extend(group)
        if not args.json:
            print(f"## {name}", flush=True)
            for figure in group:
                print(figure.line(), flush=True)
    if args.json:
        print(json.dumps([{**asdict(f), "ratio": f.ratio} for f in figures], indent=2))
    return 0 if all(f.met is not False for f in figures) else 1


if __name__ == "__main__":
    sys.exit(main())
