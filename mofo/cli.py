"""`mofo <verb>`: parse arguments, call one library function, print the result.

Every error a user can cause is reported as one line on stderr with exit code 2
(see `main`); tracebacks are for bugs only.
"""
from __future__ import annotations

import argparse
import sys


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mofo", description="Modality Forcing: images and depth from one DiT.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return parser


# Each entry adds one sub-command (and sets `func` on its parser). Sections are
# kept in the order of `mofo --help`.
COMMANDS: list = []


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except (UsageError, FileNotFoundError, NotADirectoryError, PermissionError, ValueError) as e:
        print(f"mofo {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"mofo {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
