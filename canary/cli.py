"""``obs-conformance``: the suites as a long-running canary (``canary``) and the canary's rules (``rules``).

Bad input ends here, before any round, with one line and a non-zero exit: a wrong ``--every``, an
expression naming a marker the suites do not have or selecting no check, an env file that does not
load, a stack none of whose backends answers.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import yaml

from obs_conformance.canary.errors import CanaryUsageError
from obs_conformance.canary.ledger import SIGNALS
from obs_conformance.canary.rules import NAMESPACE, RuleSettings, chart_rule_groups, prometheus_rule, rule_file
from obs_conformance.envconf import EnvFileError, Environment, load_environment
from obs_conformance.envconf.environment import ENVIRONMENTS_DIR
from obs_conformance.envconf.paths import PROJECT_ROOT
from obs_conformance.envconf.values import parse_duration

EXIT_USAGE, EXIT_UNREACHABLE = 2, 3
_WORDS = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def duration(text: str) -> float:
    try:
        seconds = parse_duration(text).seconds
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive duration")
    return seconds


def listen_address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT (like 127.0.0.1:9464; port 0 picks a free one)")
    return host.strip("[]"), int(port)


def known_markers() -> set[str]:
    from obs_conformance.fixtures.plugin import MARKERS

    return {re.split(r"[:(]", line, maxsplit=1)[0].strip() for line in MARKERS}


def check_markexpr(markexpr: str) -> None:
    """The expression parses and names only the suites' markers (pytest itself would just select nothing)."""
    from _pytest.mark.expression import Expression

    try:
        Expression.compile(markexpr)
    except Exception as e:  # pytest 9 raises SyntaxError, pytest 8 its own ParseError
        raise CanaryUsageError(f"-m {markexpr!r} is not a marker expression: {e}") from None
    unknown = sorted(set(_WORDS.findall(markexpr)) - {"and", "or", "not"} - known_markers())
    if unknown:
        raise CanaryUsageError(f"-m {markexpr!r} names unknown marker(s) {unknown}; known: {sorted(known_markers())}")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="obs-conformance", description=__doc__.split("\n", 1)[0])
    commands = top.add_subparsers(dest="command", required=True)
    canary = commands.add_parser("canary", help="run the selected checks every DURATION and serve /metrics")
    canary.add_argument("--env", default="local", help="environment name or .env path (default: local)")
    canary.add_argument("--env-dir", type=Path, help="folder of environment folders (default: ./environments)")
    canary.add_argument("--every", type=duration, required=True, metavar="DURATION", help="round period: 30s, 5m")
    canary.add_argument(
        "-m", dest="markexpr", default="smoke", metavar="MARKEXPR", help="checks to run (default: smoke)"
    )
    canary.add_argument(
        "--listen",
        type=listen_address,
        default=("127.0.0.1", 0),
        metavar="HOST:PORT",
        help="/metrics (default: loopback, a free port)",
    )
    canary.add_argument(
        "--deadline",
        type=duration,
        metavar="DURATION",
        help="a round's deadline (default: --every, at least 4x the longest signal deadline)",
    )
    canary.add_argument(
        "--reports-dir",
        type=Path,
        default=PROJECT_ROOT / "reports" / "canary",
        help="round reports: DIR/<env>/<timestamp>/",
    )
    canary.add_argument("--no-reports", action="store_true", help="write no round reports")
    canary.add_argument("--history", type=int, default=20, help="round reports kept (default: 20)")
    canary.add_argument("--rounds", type=int, help="stop after N rounds (default: until SIGTERM)")
    canary.add_argument(
        "--ledger-signals", default=",".join(SIGNALS), help=f"signals the ledger probes (default: {','.join(SIGNALS)})"
    )
    canary.add_argument(
        "--ledger-retries", type=int, default=3, help="rounds a late probe is looked up again (default: 3)"
    )
    canary.add_argument(
        "--local-prometheus",
        action="store_true",
        help="local stack: have its Prometheus scrape this canary and load its rules while it runs",
    )
    canary.add_argument(
        "--alert-after-rounds",
        type=int,
        default=3,
        help="ConformanceCanaryCheckFailing after N failed rounds (default: 3)",
    )
    rules = commands.add_parser("rules", help="print the canary's rule group (a rule file, or a PrometheusRule)")
    rules.add_argument(
        "--namespace", default=NAMESPACE, help=f"the canary's namespace, which its alerts carry (default: {NAMESPACE})"
    )
    rules.add_argument("--chart", action="store_true", help="the groups of the Helm chart's files/canary-rules.yaml")
    rules.add_argument("--prometheus-rule", action="store_true", help="as a PrometheusRule for prometheus-operator")
    rules.add_argument("--alert-after-rounds", type=int, default=3)
    return top


def load_env(name: str, env_dir: Path | None) -> Environment:
    try:
        return load_environment(name, env_dir or ENVIRONMENTS_DIR)
    except EnvFileError as e:
        raise CanaryUsageError(f"bad environment: {e}") from None


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.command == "rules" and args.chart:
            print(chart_rule_groups(), end="")
            return 0
        if args.command == "rules":
            settings = RuleSettings(namespace=args.namespace, failing_rounds=args.alert_after_rounds)
            print(
                yaml.safe_dump(prometheus_rule(settings), sort_keys=False)
                if args.prometheus_rule
                else rule_file(settings),
                end="",
            )
            return 0
        return canary(args)
    except CanaryUsageError as e:
        print(f"obs-conformance: {e}", file=sys.stderr)
        return EXIT_USAGE


def canary(args: argparse.Namespace) -> int:
    from prometheus_client import start_http_server

    from obs_conformance.canary.loop import Canary, CanaryOptions
    from obs_conformance.canary.metrics import CanaryMetrics
    from obs_conformance.canary.preflight import reachable_or_exit, selected_checks

    env = load_env(args.env, args.env_dir)
    check_markexpr(args.markexpr)
    signals = tuple(s for s in args.ledger_signals.split(",") if s)
    if set(signals) - set(SIGNALS):
        raise CanaryUsageError(f"--ledger-signals {args.ledger_signals!r}: each one of {list(SIGNALS)}")
    longest = max(env.duration(f"{s}_DEADLINE").seconds for s in ("LOG", "TRACE", "METRIC", "ALERT"))
    options = CanaryOptions(
        env_name=args.env,
        env_dir=args.env_dir,
        every=args.every,
        markexpr=args.markexpr,
        deadline=args.deadline or max(args.every, 4 * longest),
        reports_dir=None if args.no_reports else args.reports_dir,
        history=args.history,
        rounds=args.rounds,
        ledger_signals=signals,
        ledger_retries=args.ledger_retries,
    )
    if reachable_or_exit(env) is not None:
        return EXIT_UNREACHABLE
    count = selected_checks(options)
    if count == 0:
        raise CanaryUsageError(f"-m {args.markexpr!r} selects no check of the suites")
    local = None
    if args.local_prometheus:
        from obs_conformance.canary.local_prometheus import LocalPrometheus

        if not env.is_local:
            raise CanaryUsageError(f"--local-prometheus needs a local env, not {env.name!r}")
        local = LocalPrometheus(env)
        if not local.configured():
            raise CanaryUsageError(
                "the local Prometheus has no canary scrape job: run `python -m deployer local up` to render its config again"
            )
    metrics = CanaryMetrics()
    server, _ = start_http_server(args.listen[1], addr=args.listen[0], registry=metrics.registry)
    host, port = str(server.server_address[0]), int(server.server_address[1])
    print(
        f"obs-conformance canary: {count} checks every {args.every:g}s; metrics on http://{host}:{port}/metrics",
        file=sys.stderr,
        flush=True,
    )
    if local is not None:
        settings = RuleSettings(
            namespace=NAMESPACE, channel=env.text("SLACK_CHANNEL"), failing_rounds=args.alert_after_rounds
        )
        local.install(f"{host}:{port}", settings)
    try:
        return Canary(options, env, metrics).run()
    finally:
        if local is not None:
            local.remove()
        server.shutdown()
