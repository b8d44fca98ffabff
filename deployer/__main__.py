"""``python -m deployer local up|down|status [--env local]``."""

from __future__ import annotations

import argparse
import sys

from deployer.local.errors import StackError
from deployer.local.stack import LocalStack
from envconf import EnvFileError, load_environment


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deployer", description="Deploy the monitoring stack.")
    sub = parser.add_subparsers(dest="target", required=True)
    local = sub.add_parser("local", help="the stack's real backends as processes on this machine")
    local.add_argument("action", choices=("up", "down", "status"))
    local.add_argument("components", nargs="*", help="with down: stop only these (e.g. logs-store)")
    local.add_argument("--env", default="local", help="environment name under environments/ (default: local)")
    args = parser.parse_args(argv)
    try:
        env = load_environment(args.env)
        stack = LocalStack(env)
        if args.action == "up":
            statuses = stack.up()
        elif args.action == "down":
            for line in stack.down(args.components):
                print(line)
            return 0
        else:
            statuses = stack.status()
    except EnvFileError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except StackError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    width = max(len(s.name) for s in statuses)
    for s in statuses:
        state = "ready" if s.ready else ("UNHEALTHY" if s.pid else "STOPPED")
        pid = f"pid {s.pid}" if s.pid else "-"
        print(f"{s.name:<{width}}  {state:<9}  {pid:<10}  {s.where}  ({s.seen})")
    return 0 if all(s.ready for s in statuses) else 1


if __name__ == "__main__":
    sys.exit(main())
