"""Project tests only (the suites' plugins come from the root conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def _wheel_build_ahead(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> None:
    """When the run has wheel tests, their build starts with its first test (see tests/test_wheel.py)."""
    if any(item.path.name == "test_wheel.py" for item in request.session.items):
        from tests.test_wheel import build_ahead

        build_ahead(tmp_path_factory)
