"""Canary mode: the suites' checks run again and again in one process, exported as ``obs_conformance_*`` metrics.

``obs-conformance canary --env dev --every 5m -m "smoke or logs"`` (``canary/cli.py``). A round is one
``pytest.main`` of the selected checks (``canary/rounds.py``) beside a ledger of the canary's own probes
(``canary/ledger.py``); ``canary/loop.py`` schedules rounds, never two at once, and ``canary/metrics.py``
serves what they saw. ``canary/rules.py`` renders the rule group that alerts on the canary itself.
"""
