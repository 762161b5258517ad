"""Installed without extras, as the Dockerfile installs it: every module imports, every command runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from clickpipe.cli import build_parser

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
SOURCES = ["pyproject.toml", "setup.py", "README.md", "schemas", "producer", "stream_app", "clickpipe"]
PACKAGES = ["schemas", "producer", "stream_app", "clickpipe"]
IMPORT_ALL = f"""
import importlib, pkgutil
for name in {PACKAGES!r}:
    package = importlib.import_module(name)
    assert "site-packages" in package.__file__, package.__file__
    for module in pkgutil.walk_packages(package.__path__, name + "."):
        if module.name.endswith(".__main__"):  # runs the command: checked by running the commands
            continue
        importlib.import_module(module.name)
        print(module.name)
"""


def _commands() -> list[list[str]]:
    """Every command and subcommand of ``clickpipe``, e.g. ``["accounts", "create"]``."""
    import argparse

    def walk(parser: argparse.ArgumentParser, prefix: list[str]) -> list[list[str]]:
        found = [prefix]
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    found += walk(sub, [*prefix, name])
        return found

    return walk(build_parser(), [])


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with ``pip install .`` (no extras) of a copy of the sources."""
    base = tmp_path_factory.mktemp("packaging")
    source = base / "src"
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            source.mkdir(exist_ok=True)
            shutil.copy2(path, source / name)
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "."],
        cwd=source,
        env=env,
        check=True,
        timeout=900,
    )
    shutil.rmtree(source)  # imports below must come from the installed package, not from a source tree
    return venv


def _run(venv: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        [str(venv / "bin" / argv[0]), *argv[1:]],
        cwd=venv,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_every_module_imports(installed: Path) -> None:
    result = _run(installed, "python", "-c", IMPORT_ALL)
    assert result.returncode == 0, result.stderr
    imported = set(result.stdout.split())
    assert {"clickpipe.loadgen", "stream_app.views", "producer.main", "stream_app.main"} <= imported


@pytest.mark.skipif(
    not shutil.which("cc") and not shutil.which("gcc"), reason="no C compiler: nothing compiled"
)
def test_the_hot_modules_are_compiled_and_current(installed: Path) -> None:
    """setup.py's mypyc build went into the package, and is not taken for older than its sources."""
    code = "from stream_app import native; print(sorted(native.extensions())); print(native.stale())"
    result = _run(installed, "python", "-c", code)
    assert result.returncode == 0, result.stderr
    compiled, stale = result.stdout.splitlines()
    assert "'stream_app.fastclick'" in compiled and "'stream_app.engine'" in compiled, compiled
    assert stale == "[]"


@pytest.mark.parametrize("command", _commands(), ids=lambda command: " ".join(command) or "clickpipe")
def test_every_command_runs(installed: Path, command: list[str]) -> None:
    result = _run(installed, "clickpipe", *command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: clickpipe")
