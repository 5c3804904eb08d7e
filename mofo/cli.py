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


# --- info ---
def add_info_command(sub):
    p = sub.add_parser("info", help="parameter counts of a preset or checkpoint, per part")
    p.add_argument("--preset", default="tiny", help="preset name (see `mofo info --list`)")
    p.add_argument("--json", action="store_true", help='print {"total": N, "parts": {...}}')
    p.add_argument("--list", action="store_true", help="list the presets")
    p.set_defaults(func=run_info)


def run_info(args):
    from .config import get_preset, presets
    from .model import parameter_counts

    if args.list:
        print("\n".join(presets))
        return
    cfg = get_preset(args.preset)
    parts = parameter_counts(cfg)
    if args.json:
        import json

        print(json.dumps({"preset": args.preset, "total": sum(parts.values()), "parts": parts}))
        return
    print(f"{args.preset}: {cfg.hidden_size} wide, {cfg.num_heads} heads, {cfg.depth_double} triple + "
          f"{cfg.depth_single} single + {cfg.depth_decoder} depth-decoder blocks, {cfg.resolution} px")
    for name, n in parts.items():
        print(f"  {name:<14}{n:>16,}")
    print(f"  {'total':<14}{sum(parts.values()):>16,}")


COMMANDS.append(add_info_command)
# --- end info ---


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
