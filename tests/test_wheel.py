"""``pip install .`` (not editable) gives a working obs-conformance.

The wheel is built from a copy of the sources (nothing written into the checkout),
installed (``--no-index``, offline) into a fresh virtual environment that borrows this
interpreter's site-packages for the dependencies (once per run, however many xdist
workers), and run from an empty directory, so only the installed package can answer:
``python -m obs_conformance.deployer --help``, and the suites collected through the pytest11
entry point, no conftest.py in sight. The dependencies it borrows include PyPI's ``fixtures``
(testtools'), which must keep working beside ours: ours installs as ``obs_conformance.fixtures``.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import threading
from concurrent.futures import Future
from pathlib import Path

import pytest

from obs_conformance.envconf.paths import PROJECT_ROOT

pytestmark = pytest.mark.slow
SOURCES = (
    "pyproject.toml",
    "README.md",
    "envconf",
    "clients",
    "fixtures",
    "deployer",
    "suites",
    "slack_mock",
    "canary",
)
# obs_conformance/ in a checkout: its __init__.py and links to the folders above (mapped by package-dir)
NAMESPACE_INIT = "obs_conformance/__init__.py"
TIMEOUT = 300


def run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert done.returncode == 0, f"`{' '.join(argv)}` in {cwd} exited {done.returncode}:\n{done.stdout}{done.stderr}"
    return done.stdout


def build_and_install(root: Path, env: dict[str, str]) -> Path:
    """The wheel built from a copy of the sources and installed into a new venv under root: its python."""
    source = root / "src"
    for name in SOURCES:
        path = PROJECT_ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            source.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, source / name)
    (source / NAMESPACE_INIT).parent.mkdir()
    shutil.copy2(PROJECT_ROOT / NAMESPACE_INIT, source / NAMESPACE_INIT)
    dist = root / "dist"
    # The PEP 517 hook `pip wheel --no-build-isolation` calls, without pip's start-up: the same wheel.
    run([sys.executable, "-c", "import sys; from setuptools import build_meta; build_meta.build_wheel(sys.argv[1])", str(dist)], source, env)  # fmt: skip
    [wheel] = dist.glob("obs_conformance-*.whl")
    venv = root / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], root, env)
    python = venv / "bin" / "python"
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index", str(wheel)], root, env)  # fmt: skip
    # The dependencies: this interpreter's site-packages, after the venv's own (plain path lines
    # in a .pth: the .pth files there, such as an editable install of the checkout, are not read).
    site = Path(
        run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], root, env).strip()
    )
    (site / "dependencies.pth").write_text("\n".join(p for p in sys.path if p.endswith("site-packages")) + "\n")
    return python


def shared_build(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Path:
    """Built once per run: xdist workers share the first one built, in the run's common temp directory."""
    if "PYTEST_XDIST_WORKER" not in env:
        return build_and_install(tmp_path_factory.mktemp("wheel"), env)
    shared = tmp_path_factory.getbasetemp().parent
    built = shared / "wheel-venv-python"
    with (shared / "wheel.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a worker building holds it; the build's steps have their timeouts
        if not built.is_file():
            python = build_and_install(tmp_path_factory.mktemp("wheel"), env)
            built.write_text(str(python))
    return Path(built.read_text())


_BUILD: list[Future[Path]] = []  # this process' build, once started


def build_ahead(tmp_path_factory: pytest.TempPathFactory) -> Future[Path]:
    """Start this process' build in a thread (once): tests/conftest.py calls it with the run's first
    test, so the build overlaps the tests before these instead of holding up a worker that reaches them."""
    if not _BUILD:
        # the run's temp root, made here in the main thread: made first by the build thread, the first
        # test's tmp_path would make it again at the same time (clear, then create) and fail
        tmp_path_factory.getbasetemp()
        future: Future[Path] = Future()
        env = dict(os.environ)  # as it is now: a test may patch the environment while the build runs

        def build() -> None:
            try:
                future.set_result(shared_build(tmp_path_factory, env))
            except BaseException as e:  # handed to the test that waits for it
                future.set_exception(e)

        threading.Thread(target=build, name="wheel-build", daemon=True).start()
        _BUILD.append(future)
    return _BUILD[0]


@pytest.fixture(scope="module")
def venv_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_ahead(tmp_path_factory).result(timeout=4 * TIMEOUT)


def clean_env(cwd: Path) -> dict[str, str]:
    """No PYTHONPATH, nothing pointing back at the checkout."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "OBSCONF_ENVIRONMENTS", "OBSCONF_STATE")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return {**env, "HOME": env.get("HOME", str(cwd))}


def test_packages_and_templates_come_from_the_wheel(venv_python: Path, tmp_path: Path) -> None:
    out = run(
        [str(venv_python), "-c", "from obs_conformance import deployer, suites; import obs_conformance.deployer.cluster as c, "
         "obs_conformance.deployer.local, obs_conformance.fixtures.plugin, obs_conformance.deployer.render as r;"
         "print(c.__file__); print(suites.__file__); print(sorted(p.name for p in r.TEMPLATES.rglob('*.j2')))"],
        tmp_path,
        clean_env(tmp_path),
    )  # fmt: skip
    venv = str(venv_python.parent.parent)
    cluster, suites, templates = out.splitlines()
    assert cluster.startswith(venv) and suites.startswith(venv), out
    assert "prometheus.yml.j2" in templates and "prometheus-values.yaml.j2" in templates, templates


def test_deployer_help_runs_installed(venv_python: Path, tmp_path: Path) -> None:
    out = run([str(venv_python), "-m", "obs_conformance.deployer", "--help"], tmp_path, clean_env(tmp_path))
    assert "local" in out and "up" in out, out


def test_suites_collect_through_the_entry_point(venv_python: Path, tmp_path: Path) -> None:
    """A user's repository of env files, no conftest.py: the plugin comes from the entry point."""
    shutil.copytree(PROJECT_ROOT / "environments" / "local", tmp_path / "my-envs" / "local")
    argv = [str(venv_python), "-m", "pytest", "--pyargs", "obs_conformance.suites", "--collect-only", "-q", "-p", "no:cacheprovider",
            "--env", "local", "--env-dir=my-envs", "--no-stack-up"]  # fmt: skip
    done = subprocess.run(argv, cwd=tmp_path, env=clean_env(tmp_path), capture_output=True, text=True, timeout=TIMEOUT)
    # 5: the report's verdict when no check ran, which is all a --collect-only does
    assert done.returncode in (0, 5), f"`{' '.join(argv)}` exited {done.returncode}:\n{done.stdout}{done.stderr}"
    assert "test_traces.py::" in done.stdout and "tests collected" in done.stdout, done.stdout
    assert list((tmp_path / "reports" / "local").iterdir()), "installed, reports go to the current directory"


def test_pypi_fixtures_works_beside_ours(venv_python: Path, tmp_path: Path) -> None:
    """testtools' ``fixtures`` (a dev dependency, borrowed by the venv) and ours in one environment:
    each import answers with its own package, and PyPI's works."""
    script = (
        "import fixtures, obs_conformance.fixtures.plugin as ours\n"
        "class F(fixtures.Fixture):\n"
        "    def _setUp(self): self.value = 42\n"
        "with F() as f: assert f.value == 42\n"
        "print(fixtures.__file__); print(ours.__file__)"
    )
    theirs, ours = run([str(venv_python), "-c", script], tmp_path, clean_env(tmp_path)).splitlines()
    assert "obs_conformance" not in theirs and theirs.endswith("fixtures/__init__.py"), theirs
    assert ours.startswith(str(venv_python.parent.parent)) and "obs_conformance/fixtures/plugin.py" in ours, ours


def test_canary_rules_render_installed(venv_python: Path, tmp_path: Path) -> None:
    """The canary's rule template is package data: its console script's entry point renders it from the wheel."""
    code = "import sys; from obs_conformance.canary.cli import main; sys.exit(main(['rules', '--namespace', 'ns']))"
    out = run([str(venv_python), "-c", code], tmp_path, clean_env(tmp_path))
    assert "ConformanceCanaryCheckFailing" in out and "namespace: ns" in out, out
