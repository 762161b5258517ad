"""clickpipe's build: everything is in pyproject.toml but the worker's hot modules, compiled here.

The modules in ``COMPILED`` are plain, typed Python (mypy --strict); mypyc compiles them to C extensions
when the build finds a C compiler (a click decodes about 4x faster). Without one, or with
``CLICKPIPE_COMPILE=0``, the build goes on and they run as Python: same behaviour, slower.
``clickpipe worker`` logs which it runs; ``./run`` rebuilds when one of them changes.
"""

from __future__ import annotations

import os

from setuptools import Extension, setup

COMPILED = [
    "stream_app/fastclick.py",  # reads a click
    "stream_app/aggregation.py",  # cells, rows and their stored form
    "stream_app/folding.py",  # a batch folded into per-window deltas
    "stream_app/rows.py",  # deltas merged and written
    "stream_app/engine.py",  # windows closed, aggregates built
    "stream_app/windows.py",
    "stream_app/sketches.py",
    "schemas/aggregate_writer.py",  # aggregates encoded
]


def extensions() -> list[Extension]:
    if os.environ.get("CLICKPIPE_COMPILE", "1") == "0":
        return []
    from mypyc.build import mypycify

    # Not pyproject.toml's mypy settings (its plugins are not in the build environment) nor its cache; the
    # modules they import are analysed for types only (./run check type-checks everything).
    options = ["--config-file=", "--cache-dir=build/mypyc-cache", "--ignore-missing-imports"]
    modules = mypycify(
        [*options, "--follow-imports=silent", *COMPILED],
        opt_level="3",
        group_name="clickpipe_native",  # its shared library: clickpipe_native__mypyc.*.so
    )
    for module in modules:
        module.optional = True  # no compiler: a warning, and the modules stay Python
    return modules


setup(ext_modules=extensions())
