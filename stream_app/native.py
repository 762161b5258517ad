"""Which of clickpipe's modules run compiled, and whether a compiled one is older than its source.

``setup.py`` compiles the worker's hot modules with mypyc when the build finds a C compiler; each extension
sits next to its ``.py``, and Python imports the extension first. After the source is edited the extension
still runs the old code until the package is built again (``./run`` rebuilds when a compiled source changes;
by hand: ``pip install -e .``). ``stale`` finds those, so the worker warns and the tests refuse to run.
"""

from __future__ import annotations

import importlib.machinery
from pathlib import Path

PACKAGES = ("stream_app", "schemas")
ROOT = Path(__file__).resolve().parent.parent


def extensions() -> dict[str, Path]:
    """The compiled modules of clickpipe's packages (module name to extension file)."""
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    return {
        f"{package}.{path.name.split('.', 1)[0]}": path
        for package in PACKAGES
        for path in sorted((ROOT / package).iterdir())
        if path.name.endswith(suffixes)
    }


def stale() -> list[str]:
    """The compiled modules whose source was changed after they were built, in a source checkout (an
    installed package's files carry the times of its wheel, and its sources are not edited)."""
    if not (ROOT / "setup.py").exists():
        return []
    return [
        name
        for name, extension in extensions().items()
        if (source := extension.with_name(name.rpartition(".")[2] + ".py")).exists()
        and source.stat().st_mtime > extension.stat().st_mtime
    ]


def describe() -> str:
    """One line for the log: what runs compiled, and what is stale."""
    names = list(extensions())
    if not names:
        return "all interpreted (no compiled extensions: built without a C compiler, or CLICKPIPE_COMPILE=0)"
    line = f"compiled by mypyc: {', '.join(names)}"
    if old := stale():
        line += f"; OLDER THAN THEIR SOURCE, rebuild them (pip install -e .): {', '.join(old)}"
    return line
