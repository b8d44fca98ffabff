"""The thin deployer: local targets of real processes, and helm/kubectl deploys to clusters.

Rooms, each importing only those below it (import-linter contracts in pyproject.toml; see
ARCHITECTURE.md): ``cli`` -> ``local`` (up/down/status of a local target) | ``cluster`` (plan, up,
diff, down over helm and kubectl) -> ``targets`` (``stack``: the signal stack; ``kwok``: the
Kubernetes control plane and its operators; independent of each other) -> ``engine`` (process
specs, lifecycle, layout, TLS) -> ``toolchain`` (Go builds, pinned helm/kubectl, packages) ->
``render`` | ``errors`` | ``pins``.

Shares the environment files with the suites (envconf), never imports suites or fixtures.
"""
