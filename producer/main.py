"""Run the redirect service: uvicorn (default) or granian, one process or several on one port.

Both servers run the same ``run_server`` flags, which ``bench.redirect`` also serves its anchors with. With
several processes each worker builds its own app from the environment (``app_from_env``), so ``serve``
writes the settings there first; each process then claims a spool directory of its own.
"""

from __future__ import annotations

import json
import os
from typing import Any, Literal

from pydantic import SecretStr

from producer.app import create_app
from producer.redirect import RedirectFront
from producer.settings import ProducerSettings

Server = Literal["uvicorn", "granian"]
SERVERS: tuple[Server, ...] = ("uvicorn", "granian")
APP_FACTORY = "producer.main:app_from_env"
_ENV_PREFIX = "CLICKPIPE_PRODUCER_"


def serve(settings: ProducerSettings, log_config: dict[str, Any] | None = None, *, workers: int = 1) -> None:
    """Serve the redirect service until SIGINT/SIGTERM; pending clicks are published (or spooled) first.

    Args:
        settings: the configuration; copied into the environment for the worker processes.
        log_config: a ``logging.config.dictConfig`` dict.
        workers: processes serving the port.
    """
    os.environ.update(settings_environment(settings))
    run_server(
        APP_FACTORY,
        server=settings.server,
        host=settings.host,
        port=settings.port,
        workers=workers,
        factory=True,
        access_log=settings.access_log,
        log_config=log_config,
        graceful_seconds=settings.drain_seconds + 10,
    )


def app_from_env() -> RedirectFront:
    """The app with settings from the environment: the factory the server's workers call."""
    return create_app(ProducerSettings())


def settings_environment(settings: ProducerSettings) -> dict[str, str]:
    """The environment variables that make ``ProducerSettings()`` equal ``settings`` (unset ones are left
    out; the environment may still hold them)."""
    environment: dict[str, str] = {}
    for name, value in settings.model_dump(mode="json").items():
        if value is None:
            continue
        secret = getattr(settings, name)
        if isinstance(secret, SecretStr):  # dumped as asterisks
            value = secret.get_secret_value()
        text = value if isinstance(value, str) else json.dumps(value)
        environment[_ENV_PREFIX + name.upper()] = text
    return environment


def run_server(
    target: str,
    *,
    server: Server,
    host: str,
    port: int,
    workers: int = 1,
    factory: bool = False,
    access_log: bool = False,
    log_config: dict[str, Any] | None = None,
    graceful_seconds: float = 30.0,
) -> None:
    """Serve the ASGI app at ``target`` (``module:name``; with ``factory``, a function returning it) with
    ``workers`` processes on one port."""
    if server == "granian":
        from granian.constants import HTTPModes, Interfaces, Loops
        from granian.server import Server as Granian

        Granian(
            target,
            address=host,
            port=port,
            interface=Interfaces.ASGI,
            workers=workers,
            http=HTTPModes.http1,
            websockets=False,
            loop=Loops.uvloop,
            factory=factory,
            log_access=access_log,
            log_dictconfig=log_config,
            workers_kill_timeout=int(graceful_seconds),
        ).serve()
        return
    import uvicorn

    uvicorn.run(
        target,
        factory=factory,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        ws="none",
        log_level="info",
        access_log=access_log,
        log_config=log_config,
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=int(graceful_seconds),
    )
