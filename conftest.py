"""Root conftest: only loads the fixture plugins (suites -> fixtures -> clients -> envconf).

The list lives in fixtures/plugin.py, which an installed package also registers as its
pytest11 entry point; pytest loads each plugin module once, whichever asks first.
"""

pytest_plugins = ("obs_conformance.fixtures.plugin",)
