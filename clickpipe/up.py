"""``clickpipe up``: broker, topics, producer and worker in one command, stopped together."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from clickpipe.admin import ensure_topics
from clickpipe.broker import EmbeddedBroker
from clickpipe.errors import OperationsError
from clickpipe.process import die_with_parent, terminate
from producer.links import new_api_key
from schemas.topics import DEFAULT_PARTITIONS, pipeline_topics


@dataclass(frozen=True, slots=True)
class UpOptions:
    """Where each part of the pipeline listens."""

    host: str = "127.0.0.1"
    broker_port: int = 9092
    producer_port: int = 8000
    worker_port: int = 6066
    partitions: int = DEFAULT_PARTITIONS
    external_bootstrap: str | None = None
    ready_timeout: float = 60.0


class _Stop(Exception):
    """Raised by the SIGTERM handler to unwind ``run_up``."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    # Own session: Ctrl-C reaches only this command, which then stops the children in order.
    return subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "clickpipe", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=die_with_parent,
    )


def _wait_http(url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise OperationsError(f"process for {url} exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - our own http://127.0.0.1 URL
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise OperationsError(f"{url} did not answer within {timeout:.0f}s")


def run_up(options: UpOptions) -> int:
    """Run the whole pipeline until Ctrl-C or SIGTERM; return the exit code."""
    signal.signal(signal.SIGTERM, _on_sigterm)
    broker: EmbeddedBroker | None = None
    children: list[subprocess.Popen[bytes]] = []
    data_dir = Path(tempfile.mkdtemp(prefix="clickpipe-up-"))
    token = new_api_key()
    try:
        if options.external_bootstrap:
            bootstrap = options.external_bootstrap
        else:
            broker = EmbeddedBroker(options.host, options.broker_port, log_file=data_dir / "broker.log")
            bootstrap = broker.start().bootstrap_servers
        asyncio.run(ensure_topics(bootstrap, pipeline_topics(options.partitions)))
        embedded = broker is not None
        env = {
            **os.environ,
            "CLICKPIPE_PRODUCER_BOOTSTRAP_SERVERS": bootstrap,
            "CLICKPIPE_PRODUCER_DEMO_API_KEY": token,
            "CLICKPIPE_PRODUCER_DATA_DIR": str(data_dir / "producer"),
            "CLICKPIPE_WORKER_BOOTSTRAP_SERVERS": bootstrap,
            "CLICKPIPE_WORKER_PARTITIONS": str(options.partitions),
            "CLICKPIPE_WORKER_DATA_DIR": str(data_dir / "worker"),
        }
        if embedded:
            env["CLICKPIPE_WORKER_RECOVERY_CONSISTENCY_CHECK"] = "false"
        worker = _spawn(["worker", "--web-host", options.host, "--web-port", str(options.worker_port)], env)
        children.append(worker)
        producer = _spawn(
            ["producer", "--demo", "--host", options.host, "--port", str(options.producer_port)], env
        )
        children.append(producer)
        producer_url = f"http://{options.host}:{options.producer_port}"
        worker_url = f"http://{options.host}:{options.worker_port}"
        _wait_http(f"{producer_url}/healthz", producer, options.ready_timeout)
        _wait_http(f"{worker_url}/healthz", worker, options.ready_timeout)
        _print_banner(bootstrap, embedded, producer_url, worker_url, token)
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        failed = next(child for child in children if child.poll() is not None)
        print(f"a pipeline process exited with code {failed.returncode}; stopping", file=sys.stderr)  # noqa: T201
        return 1
    except (KeyboardInterrupt, _Stop):
        print("\nstopping clickpipe ...", file=sys.stderr)  # noqa: T201
        return 0
    finally:
        # The producer first, so its last clicks reach the broker; then the worker; the broker last.
        for child in reversed(children):
            terminate(child, timeout=30)
        if broker is not None:
            broker.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def _print_banner(bootstrap: str, embedded: bool, producer_url: str, worker_url: str, token: str) -> None:
    kind = "embedded, in memory" if embedded else "external"
    print(  # noqa: T201
        f"""
clickpipe is up
  broker      {bootstrap} ({kind})
  redirects   {producer_url}/demo
              try: curl -i -H 'CF-IPCountry: DE' {producer_url}/demo
  link API    {producer_url}/docs   (demo account's API key: {token})
  stats       {worker_url}/api/stats/top-links?from=<ISO 8601>&to=<ISO 8601>&granularity=minute
Press Ctrl-C to stop everything.
""",
        flush=True,
    )
