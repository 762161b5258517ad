"""The ``clickpipe`` command: run the pipeline, or any one part of it."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import logging.config
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clickpipe.admin import ensure_topics
from clickpipe.broker import EmbeddedBroker
from clickpipe.kafka import KafkaCluster
from clickpipe.kafka_acls import USERS, WORKER_APP_ID, grant, pipeline_grants
from clickpipe.logs import logging_config
from clickpipe.up import BrokerFactory, ExternalBroker, Up, UpOptions, embedded_broker, kafka_broker
from schemas.broker_auth import BrokerAuth
from schemas.errors import ClickpipeError
from schemas.topics import DEFAULT_PARTITIONS, pipeline_topics

if TYPE_CHECKING:
    from clickpipe.loadgen import LoadOptions

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
DEFAULT_REQUESTS = 10_000


def _bootstrap_default() -> str:
    return os.environ.get("KAFKA_BOOTSTRAP_SERVERS", DEFAULT_BOOTSTRAP)


def _given(namespace: argparse.Namespace, *names: str) -> dict[str, Any]:
    """Return the options the user gave (not None), to override settings from the environment."""
    return {name: getattr(namespace, name) for name in names if getattr(namespace, name) is not None}


def cmd_broker(args: argparse.Namespace) -> int:
    """Run a broker in the foreground: the embedded one, or a real Apache Kafka node."""
    broker: EmbeddedBroker | KafkaCluster
    if args.tls and (args.no_auth or args.kind != "kafka"):
        why = "clickpipe broker: --tls is for --kind kafka, with authentication (not --no-auth)"
        print(why, file=sys.stderr)  # noqa: T201
        return 2
    if args.kind == "kafka":
        broker = KafkaCluster(
            1, host=args.host, port=args.port, data_dir=args.data_dir, secured=not args.no_auth, tls=args.tls
        )
        name, keeps = "Apache Kafka", f"data in {args.data_dir}" if args.data_dir else "data removed on stop"
    else:
        broker = EmbeddedBroker(args.host, args.port)
        name, keeps = "embedded broker", "in memory"
    with broker:
        print(f"{name}: {broker.bootstrap_servers} ({keeps}; Ctrl-C stops it)", flush=True)  # noqa: T201
        if isinstance(broker, KafkaCluster) and broker.secured:
            print(_secured_note(broker), flush=True)  # noqa: T201
        else:
            print("no authentication: any process that reaches it may read and write every topic", flush=True)  # noqa: T201
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        with contextlib.suppress(KeyboardInterrupt):
            broker.wait()
    return 0


def _secured_note(broker: KafkaCluster) -> str:
    users = ", ".join(USERS)
    over = " over TLS" if broker.tls else ""
    lines = [
        f"SASL/SCRAM-SHA-512{over} and ACLs: users {users}; no anonymous client. Each user's settings, for a "
        "shell:"
    ]
    lines += [f"  {user:<9} set -a; . {broker.client_settings(user)}; set +a" for user in USERS]
    lines.append("(admin creates topics: `clickpipe topics`; producer and worker may do only their part)")
    return "\n".join(lines)


def cmd_topics(args: argparse.Namespace) -> int:
    """Create the pipeline's topics."""
    specs = pipeline_topics(args.partitions)
    created = asyncio.run(
        ensure_topics(
            args.bootstrap_servers,
            specs,
            replication_factor=args.replication_factor,
            connect_timeout=args.connect_timeout,
        )
    )
    for spec in specs:
        state = "created" if spec.name in created else "exists"
        print(f"{spec.name:<24} {spec.partitions:>3} partitions  {state}")  # noqa: T201
    if args.acls:
        grants = pipeline_grants(args.worker_app_id)
        added = asyncio.run(
            grant(args.bootstrap_servers, BrokerAuth(), grants, wait_seconds=args.connect_timeout)
        )
        users = sorted({each.user for each in grants})
        print(f"ACLs: {added} bindings for {', '.join(users)} (adding one again changes nothing)")  # noqa: T201
    return 0


def cmd_producer(args: argparse.Namespace) -> int:
    """Run the redirect service."""
    from producer.main import serve  # only this command needs uvicorn and FastAPI
    from producer.settings import ProducerSettings

    overrides = _given(args, "host", "port", "bootstrap_servers", "data_dir")
    if args.demo:
        overrides["demo_link"] = True
    settings = ProducerSettings(**overrides)
    serve(settings, log_config=logging_config(args.log_level, settings.log_format), workers=args.workers)
    return 0


def cmd_accounts_create(args: argparse.Namespace) -> int:
    """Create an account."""
    from clickpipe.accounts import create_account
    from producer.settings import ProducerSettings

    account = create_account(ProducerSettings(**_given(args, "data_dir")), args.name)
    print(f"account {account.account_id} ({account.name})")  # noqa: T201
    print(f"next: clickpipe keys create {account.account_id}", file=sys.stderr)  # noqa: T201
    return 0


def cmd_keys_create(args: argparse.Namespace) -> int:
    """Create an API key for an account."""
    from clickpipe.accounts import create_key
    from producer.settings import ProducerSettings

    key = create_key(ProducerSettings(**_given(args, "data_dir")), args.account_id)
    print(key)  # noqa: T201
    print("keep it safe: it is stored hashed and cannot be shown again", file=sys.stderr)  # noqa: T201
    return 0


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    """Revoke an API key."""
    from clickpipe.accounts import revoke_key
    from producer.settings import ProducerSettings

    key = sys.stdin.readline().strip() if args.key == "-" else args.key
    if not revoke_key(ProducerSettings(**_given(args, "data_dir")), key):
        print("no such API key", file=sys.stderr)  # noqa: T201
        return 1
    print("revoked: every producer on the database refuses it from now on", file=sys.stderr)  # noqa: T201
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """Run the stream worker."""
    from stream_app.main import run_worker  # only this command needs Faust
    from stream_app.settings import WorkerSettings

    overrides = _given(args, "web_host", "web_port", "bootstrap_servers", "data_dir")
    if args.data_slot:
        from clickpipe.slots import claim_slot

        base = overrides.get("data_dir") or WorkerSettings().data_dir
        overrides["data_dir"], _lock = claim_slot(Path(base))  # held until the process exits
    if args.advertise_own_address:
        from clickpipe.slots import own_address

        port = overrides.get("web_port") or WorkerSettings().web_port
        overrides["advertised_url"] = f"http://{own_address()}:{port}"
    settings = WorkerSettings(**overrides)
    if settings.replication_factor == -1:  # Faust takes a count: ask the brokers for theirs
        from clickpipe.admin import default_replication_factor

        replicas = asyncio.run(default_replication_factor(settings.bootstrap_servers))
        settings = settings.model_copy(update={"replication_factor": replicas})
    run_worker(settings, logging_config=logging_config(settings.log_level, settings.log_format))
    return 0


def load_options(args: argparse.Namespace) -> LoadOptions:
    """The traffic ``clickpipe loadgen`` sends: ``--requests`` (10,000 unless ``--duration`` is given)."""
    from clickpipe.loadgen import LoadOptions

    requests = args.requests if args.requests is not None else None if args.duration else DEFAULT_REQUESTS
    return LoadOptions(
        url=args.url,
        api_key=args.api_key,
        links=args.links,
        requests=requests,
        duration=args.duration,
        rate=args.rate,
        concurrency=args.concurrency,
        bot_share=args.bot_share,
        backfill=args.backfill,
        seed=args.seed,
    )


def cmd_loadgen(args: argparse.Namespace) -> int:
    """Send realistic traffic to the redirect service."""
    from clickpipe.loadgen import run_load

    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request would drown the progress bar
    report = asyncio.run(run_load(load_options(args)))
    print(report.summary())  # noqa: T201
    return 0 if not report.errors else 1


def up_broker(args: argparse.Namespace) -> BrokerFactory:
    """The broker ``up`` runs on: the one in KAFKA_BOOTSTRAP_SERVERS, else the ``--broker`` kind."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        return lambda _workdir: ExternalBroker(external)
    if args.broker == "kafka":
        return kafka_broker(args.host, args.broker_port)
    return embedded_broker(args.host, args.broker_port)


def cmd_up(args: argparse.Namespace) -> int:
    """Run broker, topics, producer and worker together."""
    options = UpOptions(
        host=args.host,
        data_dir=args.data_dir,
        producer_port=args.producer_port,
        worker_port=args.worker_port,
        partitions=args.partitions,
        verbose=args.verbose,
    )
    return Up(options, up_broker(args)).run()


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``clickpipe`` command."""
    parser = argparse.ArgumentParser(
        prog="clickpipe",
        description="Smart links with a click-analytics pipeline on Kafka. "
        "Every command uses the broker in KAFKA_BOOTSTRAP_SERVERS when it is set.",
    )
    parser.add_argument(
        "--log-level", help="Log level (default: INFO; WARNING for up unless --verbose).", type=str.upper
    )
    parser.add_argument(
        "--log-format",
        choices=["text", "json"],
        default=os.environ.get("CLICKPIPE_LOG_FORMAT", "text"),
        help="Log lines of this command as text or JSON (default: CLICKPIPE_LOG_FORMAT or text).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = commands.add_parser(
        "up",
        help="run the whole pipeline: broker, topics, producer, worker",
        description="Start a broker (unless KAFKA_BOOTSTRAP_SERVERS is set), create the topics, "
        "then the redirect service with a demo link (slug 'demo') and the stream worker. What you create "
        "is kept in --data-dir and found again on the next run; up's options set the services' data "
        "directories, broker and ports over any CLICKPIPE_* variable of the same setting, the other "
        "variables of the configuration table apply as given. Ctrl-C stops everything.",
    )
    up.add_argument("--host", default="127.0.0.1", help="Address every part listens on (%(default)s).")
    up.add_argument(
        "--data-dir",
        type=Path,
        default=Path("data"),
        help="Where accounts, API keys, links, the demo key and the click spool are kept across runs, and "
        "with --broker kafka the broker's data and the worker's state too (default: ./%(default)s, the "
        "directory 'clickpipe accounts create' and 'keys create' use: data/producer). With the embedded "
        "broker clicks and counts live in memory and start empty each run.",
    )
    up.add_argument(
        "--broker",
        choices=["embedded", "kafka"],
        default="embedded",
        help="embedded: the in-memory broker, zero set-up; kafka: one real Apache Kafka node (needs Java; "
        "Maven fetches its jars once). Default: %(default)s.",
    )
    up.add_argument("--broker-port", type=int, default=9092, help="Broker port (%(default)s).")
    up.add_argument("--producer-port", type=int, default=8000, help="Redirect service port (%(default)s).")
    up.add_argument("--worker-port", type=int, default=6066, help="Worker HTTP API port (%(default)s).")
    up.add_argument("--partitions", type=int, default=DEFAULT_PARTITIONS, help="Click topic partitions.")
    up.add_argument(
        "-v", "--verbose", action="store_true", help="Show the services' logs (default: warnings only)."
    )
    up.set_defaults(handler=cmd_up)

    broker = commands.add_parser(
        "broker",
        help="run a broker in the foreground: the embedded one, or a real Apache Kafka node",
        description="Run a broker in the foreground and print its bootstrap address. The embedded broker "
        "(Tansu) keeps data in memory, for demos and tests. --kind kafka runs one Apache Kafka node "
        "(KRaft, broker and controller) as a JVM process: it needs Java 17+, and Maven fetches Kafka's "
        "jars once (kafka/pom.xml; or set CLICKPIPE_KAFKA_LIBS).",
    )
    broker.add_argument(
        "--kind", choices=["embedded", "kafka"], default="embedded", help="Which broker (%(default)s)."
    )
    broker.add_argument("--host", default="127.0.0.1", help="Listen and advertised address (%(default)s).")
    broker.add_argument("--port", type=int, default=9092, help="Port; 0 picks a free one (%(default)s).")
    broker.add_argument(
        "--data-dir",
        type=Path,
        help="With --kind kafka: keep the node's data here across runs (default: a temporary directory).",
    )
    broker.add_argument(
        "--no-auth",
        action="store_true",
        help="With --kind kafka: PLAINTEXT and no ACLs, anyone may do anything (development only; by default "
        "clients log in with SASL/SCRAM as admin, producer or worker, and ACLs allow each only its part).",
    )
    broker.add_argument(
        "--tls",
        action="store_true",
        help="With --kind kafka: SASL over TLS (SASL_SSL), with a self-signed certificate made by the JDK's "
        "keytool; each user's settings file names the CA file clients check it with.",
    )
    broker.set_defaults(handler=cmd_broker)

    topics = commands.add_parser(
        "topics",
        help="create the pipeline's topics (idempotent)",
        description="Create the click, dead-letter, late and aggregate topics that do not exist yet. "
        "Existing topics are left unchanged.",
    )
    topics.add_argument("--bootstrap-servers", default=_bootstrap_default(), help="Broker (%(default)s).")
    topics.add_argument("--partitions", type=int, default=DEFAULT_PARTITIONS, help="Partitions per topic.")
    topics.add_argument(
        "--replication-factor",
        type=int,
        default=1,
        help="Replicas per partition; -1 for the brokers' default.replication.factor (%(default)s).",
    )
    topics.add_argument(
        "--connect-timeout", type=float, default=30.0, help="Seconds to wait for the broker (%(default)s)."
    )
    topics.add_argument(
        "--acls",
        action="store_true",
        help="Also add the ACLs that let the producer and worker users do their part, and no more, on a "
        "broker that authorizes (log in as a super user with CLICKPIPE_KAFKA_*; compose does this).",
    )
    topics.add_argument(
        "--worker-app-id",
        default=WORKER_APP_ID,
        help="With --acls: the worker's app id, whose group, topics and transactions it owns (%(default)s).",
    )
    topics.set_defaults(handler=cmd_topics)

    producer = commands.add_parser(
        "producer",
        help="run the redirect service (FastAPI)",
        description="Serve GET /{slug} redirects and publish clicks to Kafka. Configured by "
        "CLICKPIPE_PRODUCER_* variables; options given here win. API docs at /docs.",
    )
    producer.add_argument("--host", help="Bind address (default 127.0.0.1).")
    producer.add_argument("--port", type=int, help="Port (default 8000).")
    producer.add_argument("--bootstrap-servers", help="Kafka bootstrap servers.")
    producer.add_argument("--data-dir", type=Path, help="Link database and spool (default data/producer).")
    producer.add_argument("--demo", action="store_true", help="Create the demo link (slug 'demo').")
    producer.add_argument(
        "--workers",
        type=int,
        default=1,
        help="Processes serving the port, each with its own spool (%(default)s).",
    )
    producer.set_defaults(handler=cmd_producer)

    loadgen = commands.add_parser(
        "loadgen",
        help="send realistic traffic to the redirect service",
        description="Visit links over HTTP like real traffic: Zipf-like link popularity, a country mix with "
        "Cloudflare geo headers, returning visitors (CF-Connecting-IP) on desktop, mobile and tablet "
        "browsers, referers, a share of bots, optional out-of-order backfills through the batch "
        "endpoint. With --api-key it creates links lg-0.. first; without, it visits the demo link. Shows "
        "progress and ends with a summary (requests, req/s, latency percentiles, errors).",
    )
    loadgen.add_argument("--url", default="http://127.0.0.1:8000", help="Redirect service (%(default)s).")
    loadgen.add_argument(
        "--api-key",
        default=os.environ.get("CLICKPIPE_API_KEY"),
        help="An account's key (or CLICKPIPE_API_KEY).",
    )
    loadgen.add_argument("--links", type=int, default=50, help="Links to spread traffic over (%(default)s).")
    loadgen.add_argument(
        "--requests", type=int, help=f"Requests to send (default {DEFAULT_REQUESTS:,}; none with --duration)."
    )
    loadgen.add_argument("--duration", type=float, help="Send for this many seconds instead of --requests.")
    loadgen.add_argument(
        "--rate", type=float, default=0.0, help="Requests per second; 0: as fast as possible."
    )
    loadgen.add_argument("--concurrency", type=int, default=32, help="Requests in flight (%(default)s).")
    loadgen.add_argument("--bot-share", type=float, default=0.1, help="Share of bot visits (%(default)s).")
    loadgen.add_argument(
        "--backfill",
        type=int,
        default=0,
        help="Also send this many out-of-order past clicks via the batch API.",
    )
    loadgen.add_argument("--seed", type=int, default=1, help="Random seed: the same seed, the same traffic.")
    loadgen.set_defaults(handler=cmd_loadgen)

    accounts = commands.add_parser(
        "accounts",
        help="manage accounts of the link API",
        description="Accounts own links and API keys. Works on the producer's link database "
        "(CLICKPIPE_PRODUCER_DATABASE_URL, else the SQLite file in CLICKPIPE_PRODUCER_DATA_DIR or "
        "--data-dir).",
    )
    accounts_commands = accounts.add_subparsers(dest="action", required=True, metavar="ACTION")
    account_create = accounts_commands.add_parser(
        "create", help="create an account", description="Create an account and print its id."
    )
    account_create.add_argument("name", help="A name for the account, e.g. the customer's.")
    account_create.add_argument("--data-dir", type=Path, help="The producer's data directory.")
    account_create.set_defaults(handler=cmd_accounts_create)

    keys = commands.add_parser(
        "keys",
        help="manage API keys",
        description="API keys authenticate calls to /api/links and /api/clicks/batch as one account.",
    )
    keys_commands = keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    key_create = keys_commands.add_parser(
        "create",
        help="create an API key for an account",
        description="Create an API key and print it once (only its hash is stored). "
        "Use it as 'Authorization: Bearer <key>'.",
    )
    key_create.add_argument("account_id", help="The account's id (from 'clickpipe accounts create').")
    key_create.add_argument("--data-dir", type=Path, help="The producer's data directory.")
    key_create.set_defaults(handler=cmd_keys_create)
    key_revoke = keys_commands.add_parser(
        "revoke",
        help="revoke an API key",
        description="Revoke an API key: the link API refuses it from the next call on, on every producer "
        "of the database.",
    )
    key_revoke.add_argument("key", help="The key (cpk_...), or - to read it from standard input.")
    key_revoke.add_argument("--data-dir", type=Path, help="The producer's data directory.")
    key_revoke.set_defaults(handler=cmd_keys_revoke)

    worker = commands.add_parser(
        "worker",
        help="run the stream worker (Faust)",
        description="Consume clicks, aggregate them and serve the aggregates over HTTP. Configured by "
        "CLICKPIPE_WORKER_* variables; options given here win. Run several to share the partitions.",
    )
    worker.add_argument("--web-host", help="HTTP API bind address (default 127.0.0.1).")
    worker.add_argument("--web-port", type=int, help="HTTP API port (default 6066).")
    worker.add_argument("--bootstrap-servers", help="Kafka bootstrap servers.")
    worker.add_argument("--data-dir", type=Path, help="Where the worker keeps its table state.")
    worker.add_argument(
        "--data-slot",
        action="store_true",
        help="For replicas sharing one data dir: claim a free DATA_DIR/slot-N (file lock), keep state there.",
    )
    worker.add_argument(
        "--advertise-own-address",
        action="store_true",
        help="Tell other workers this host's own address (e.g. in compose), not WEB_HOST.",
    )
    worker.set_defaults(handler=cmd_worker)
    return parser


def log_level(args: argparse.Namespace) -> str:
    """``--log-level`` if given; else WARNING for ``up`` (its banner stays in view) unless ``--verbose``."""
    if args.log_level is not None:
        return str(args.log_level)
    return "WARNING" if args.command == "up" and not args.verbose else "INFO"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``clickpipe`` console script."""
    args = build_parser().parse_args(argv)
    # Everything clickpipe writes (worker state, spools, databases, logs, a broker's data) holds tenants'
    # data or secrets: private to the user it runs as, whatever the umask it was started with.
    os.umask(0o077)
    args.log_level = log_level(args)
    logging.config.dictConfig(logging_config(args.log_level, args.log_format))
    try:
        code: int = args.handler(args)
    except ClickpipeError as exc:
        print(f"clickpipe {args.command}: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    return code
