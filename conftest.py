"""Root conftest: only loads the fixture plugins (suites -> fixtures -> clients -> envconf)."""

pytest_plugins = (
    "fixtures.options",
    "fixtures.stack",
    "fixtures.backends",
    "fixtures.k8s",
    "fixtures.reporting",
    "fixtures.pod_logs",
    "fixtures.port_forward",
)
