"""The deployer's command line: ``python -m deployer up|plan|diff|down --env dev`` and ``python -m deployer local up|down|status``."""

from __future__ import annotations

import argparse
import sys

from obs_conformance.deployer.cluster import commands
from obs_conformance.deployer.cluster.readiness import NotReadyError
from obs_conformance.deployer.cluster.runner import DeployError
from obs_conformance.deployer.errors import StackError
from obs_conformance.deployer.local import ComponentStatus, LocalStack
from obs_conformance.deployer.toolchain.charts import CHARTS_ENV, ChartSource
from obs_conformance.envconf import EnvFileError, load_environment

# exit codes: 0 deployed and ready, 1 a step failed (a helm or kubectl command), 2 a bad environment file,
NOT_READY = 3  # every step passed, but what the operators make was not ready by DEPLOY_READY_DEADLINE


def _print_statuses(statuses: list[ComponentStatus]) -> int:
    width = max(len(s.name) for s in statuses)
    for s in statuses:
        state = "ready" if s.ready else ("UNHEALTHY" if s.pid else "STOPPED")
        pid = f"pid {s.pid}" if s.pid else "-"
        print(f"{s.name:<{width}}  {state:<9}  {pid:<10}  {s.where}  ({s.seen})")
    return 0 if all(s.ready for s in statuses) else 1


def _local(args: argparse.Namespace) -> int:
    stack = LocalStack(load_environment(args.env), charts=ChartSource.from_option(args.charts))
    if args.action == "down":
        for line in stack.down(args.components, delete_data=args.delete_data):
            print(line)
        return 0
    return _print_statuses(stack.up() if args.action == "up" else stack.status())


def _cluster(args: argparse.Namespace) -> int:
    env = load_environment(args.env)
    charts = ChartSource.from_option(getattr(args, "charts", None))
    if args.action == "up":
        commands.up(env, charts=charts, wait=not args.no_wait, canary=args.with_canary)
    elif args.action == "plan":
        commands.plan(
            env,
            show_manifests=not args.no_manifests,
            charts=charts,
            render_charts=args.template,
            canary=args.with_canary,
        )
    elif args.action == "diff":
        commands.diff(env, charts=charts, canary=args.with_canary)
    else:
        commands.down(env, delete_data=args.delete_data, canary=args.with_canary)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deployer", description="Deploy the monitoring stack.")
    sub = parser.add_subparsers(dest="command", required=True)
    local = sub.add_parser("local", help="the stack's real backends as processes on this machine")
    local.add_argument("action", choices=("up", "down", "status"))
    local.add_argument("components", nargs="*", help="with down: stop only these (e.g. logs-store)")
    local.add_argument(
        "--env", default="local", help="environment under environments/: local (default) or kwok (control plane)"
    )
    local.add_argument("--delete-data", action="store_true", help="with down: also delete the data (etcd, TSDB, ...)")
    local.add_argument(
        "--charts",
        metavar="DIR",
        help=f"where kube-prometheus-stack is rendered from for the stack's rules and Alertmanager config: "
        f"a local chart directory with SHA256SUMS; default ${CHARTS_ENV}, else the charts' repositories",
    )
    for action, text in (
        ("up", "deploy the stack (the design's eleven steps), idempotent"),
        ("plan", "print the commands and rendered manifests, secrets masked; touch nothing"),
        ("diff", "show the change against the cluster (kubectl diff, helm diff when installed)"),
        ("down", "remove the releases; PVCs and their data are kept unless --delete-data"),
    ):
        cluster = sub.add_parser(action, help=text)
        cluster.add_argument("--env", required=True, help="environment under environments/ (dev, kind)")
        cluster.set_defaults(action=action)
        cluster.add_argument(
            "--with-canary",
            action="store_true",
            help="also the conformance canary (charts/obs-conformance-canary), a step after the eleven; "
            'default the env\'s CANARY="on", else off',
        )
        if action != "down":
            cluster.add_argument(
                "--charts",
                metavar="DIR",
                help=f"a local chart directory with SHA256SUMS (offline), relative to the repository; "
                f"default ${CHARTS_ENV}, else the charts' repositories",
            )
        if action == "up":
            cluster.add_argument(
                "--no-wait",
                action="store_true",
                help="the steps only: do not wait for what the operators make (StatefulSets, PVCs, Certificates)",
            )
        if action == "down":
            cluster.add_argument("--delete-data", action="store_true", help="also delete the PVCs (data loss)")
        if action == "plan":
            cluster.add_argument("--no-manifests", action="store_true", help="print the commands only")
            cluster.add_argument(
                "--template", action="store_true", help="also render every release with helm template (pinned helm)"
            )
    args = parser.parse_args(argv)
    try:
        return _local(args) if args.command == "local" else _cluster(args)
    except EnvFileError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (StackError, DeployError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except NotReadyError as e:
        print(f"error: every step passed, but {e}", file=sys.stderr)
        return NOT_READY
