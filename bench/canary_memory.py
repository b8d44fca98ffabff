"""The canary's memory over many rounds: ``python -m bench.canary_memory [--rounds 200] [-m smoke]``.

Runs the canary's loop in this process (as ``obs-conformance canary`` does), rounds back to back,
against the local stack, and prints the resident set size after round 10 and after the last one.
Measured, never asserted: this is not a timed test. Each round is a full ``pytest.main`` of the
selection plus the ledger's three probes; reports are not written (their history is pruned anyway).
"""

from __future__ import annotations

import argparse
import time

from obs_conformance.canary.loop import Canary, CanaryOptions
from obs_conformance.canary.metrics import CanaryMetrics
from obs_conformance.canary.rounds import RoundResult
from obs_conformance.envconf import load_environment


def rss_mib() -> float:
    for line in open("/proc/self/status").read().splitlines():  # noqa: SIM115 - one read of a proc file
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class MeasuredCanary(Canary):
    def __init__(self, *args: object, marks: tuple[int, ...], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.marks = marks
        self.rss: dict[int, float] = {}

    def one_round(self, number: int) -> RoundResult:
        result = super().one_round(number)
        if number in self.marks:
            self.rss[number] = rss_mib()
            print(f"RSS after round {number}: {self.rss[number]:.1f} MiB", flush=True)
        return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("-m", dest="markexpr", default="smoke")
    parser.add_argument("--env", default="local")
    args = parser.parse_args()
    env = load_environment(args.env)
    options = CanaryOptions(
        env_name=args.env,
        env_dir=None,
        every=0.001,
        markexpr=args.markexpr,
        deadline=120.0,
        reports_dir=None,
        rounds=args.rounds,
    )
    marks = tuple(sorted({1, 10, 50, 100, args.rounds}))
    started = time.monotonic()
    canary = MeasuredCanary(options, env, CanaryMetrics(), marks=marks)
    canary.run()
    elapsed = time.monotonic() - started
    first, tenth, last = canary.rss.get(1), canary.rss.get(10), canary.rss.get(args.rounds)
    print(f"{args.rounds} rounds of -m {args.markexpr!r} in {elapsed:.0f}s ({elapsed / args.rounds:.2f}s a round)")
    if tenth is not None and last is not None:
        print(
            f"RSS: round 1 {first:.1f} MiB, round 10 {tenth:.1f} MiB, round {args.rounds} {last:.1f} MiB "
            f"({last - tenth:+.1f} MiB from round 10)"
        )


if __name__ == "__main__":
    main()
