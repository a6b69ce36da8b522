"""Running the central: ``serve`` (ingest, dashboard, certificate service, retention) and ``ingest`` (workers
only, to scale out)."""

from __future__ import annotations

import argparse
import os
import sys
import threading
from pathlib import Path
from typing import Any

from central.cli.common import (  # noqa: F401
    _broker_reload,
    _broker_tls,
    _encrypt_existing,
    _gap_timeout,
    _key_source,
    _master_key_ready,
    _open_store,
    log,
)
from central.ingest import IngestWorker
from central.ingest_processes import MAX_PROCESSES
from central.keys import CentralKeys, KeysError
from central.paths import central_home, default_db
from central.store import CentralStore
from sync.runtime.cli_common import stop_on_signals, whole_number

PARENT_CHECK_S = 1.0  # how often ``ingest --parent-pid`` looks whether its parent is still there



class _Stop:
    def __init__(self, workers: list[IngestWorker]) -> None:
        self.workers = workers
        self.requested = False

    def request_stop(self) -> None:
        self.requested = True
        for w in self.workers:
            w.request_stop()


def _cmd_serve(args: argparse.Namespace) -> int:
    home = central_home(args.home)
    try:
        keys = CentralKeys.load(home)
    except KeysError as exc:
        print(f"kiosk-central serve: {exc}", file=sys.stderr)
        return 2
    from central import notifier
    from central.web.auth import dashboard_options
    from central.web.server import alarm_titles

    try:
        web_options = dashboard_options(args)  # session timeouts, Secure cookies + HSTS
        delivery = notifier.delivery_from_args(args, dict(os.environ), alarm_titles)  # alarm e-mail and webhooks
    except ValueError as exc:
        print(f"kiosk-central serve: {exc}", file=sys.stderr)
        return 2
    store = _open_store(args, home)
    if not _master_key_ready(store, "serve", create=True):
        store.close()
        return 2
    _encrypt_existing(store)
    dashboard = None
    if args.http:
        from central.web.server import parse_http, serve

        host, port = parse_http(args.http)
        dashboard = serve(store, host, port, keys_home=home, broker_url=args.broker,
                          crl_copy=Path(args.crl_copy) if args.crl_copy else None,
                          broker_reload=_broker_reload(args), delivery=delivery, **web_options)
        log.info("operators' dashboard on %s", dashboard.url)
    tls, cert_service = _fleet_tls(args.broker, home, store, keys)
    workers = _ingest_workers(args, store, keys, tls)
    stop = _Stop(workers)
    stop_on_signals(stop)
    from central.ingest_processes import IngestProcesses, ingest_argv
    from central.retention import start_retention  # telemetry older than --telemetry-days goes

    retention = start_retention(store, args.telemetry_days)
    # The store is open (migrated) before any child opens it.
    children = IngestProcesses(ingest_argv(args.broker, db=args.db or default_db(home), home=str(home),
                                           workers=args.workers, gap_timeout=args.gap_timeout,
                                           verbose=args.verbose)
                               + (["--master-key", args.master_key] if args.master_key else []),
                               args.processes - 1)
    for w in workers[1:]:
        w.start()
    log.info("central serving %d ingest worker(s) in %d process(es)", len(workers) * args.processes,
             args.processes)
    try:
        children.start()
        workers[0].run()
    finally:
        children.stop()
        for w in workers[1:]:
            w.stop()
        if dashboard is not None:
            dashboard.stop()
        if cert_service is not None:
            cert_service.stop()
        retention.stop()
        store.close()
    return 0


def _ingest_workers(args: argparse.Namespace, store: CentralStore, keys: CentralKeys, tls: Any) -> list[IngestWorker]:
    """``--workers`` ingest workers of this process (``serve`` and ``ingest``), with ``--gap-timeout``."""
    from central.sequences import DEFAULT_GAP_TIMEOUT_S

    gap_timeout = DEFAULT_GAP_TIMEOUT_S if args.gap_timeout is None else args.gap_timeout
    return [IngestWorker(args.broker, store, keys, worker_id=f"{os.getpid()}-{i}", tls=tls,
                         gap_timeout_s=gap_timeout, gap_check_s=min(30.0, gap_timeout))  # checked as often as due
            for i in range(args.workers)]


def _cmd_ingest(args: argparse.Namespace) -> int:
    """Ingest workers only (no dashboard, certificate service or retention): ``serve --processes`` runs these,
    and more can run on this or other hosts against the same broker and database."""
    home = central_home(args.home)
    try:
        keys = CentralKeys.load(home)
    except KeysError as exc:
        print(f"kiosk-central ingest: {exc}", file=sys.stderr)
        return 2
    ok, tls = _broker_tls(args.broker, home, "ingest")  # the central's identity; certificates are serve's job
    if not ok:
        return 2
    store = _open_store(args, home)
    if not _master_key_ready(store, "ingest"):
        store.close()
        return 2
    workers = _ingest_workers(args, store, keys, tls)
    stop = _Stop(workers)
    stop_on_signals(stop)  # the handler only sets the workers' events: nothing here waits on them
    threads = [threading.Thread(target=w.run, name=w.client_id, daemon=True) for w in workers]
    for t in threads:
        t.start()
    log.info("central ingest process serving %d worker(s)", len(workers))
    code = 0
    try:
        while not stop.requested:
            # Returns at once when a worker ends (a signal asks them all to), else every PARENT_CHECK_S.
            threads[0].join(PARENT_CHECK_S)
            if stop.requested:
                break
            if args.parent_pid is not None and os.getppid() != args.parent_pid:
                log.warning("parent process %d is gone: ingest process stopping", args.parent_pid)
                break
            if not all(t.is_alive() for t in threads):
                log.error("an ingest worker ended unexpectedly: ingest process stopping")
                code = 1
                break
    finally:
        for w in workers:
            w.request_stop()
        for t in threads:
            t.join(10.0)
        store.close()
    return code


def _fleet_tls(broker: str, home: Path, store: CentralStore, keys: CentralKeys) -> tuple[Any, Any]:
    """For an ``mqtts://`` broker: the central's fleet identity and the certificate service beside the workers."""
    from sync.protocol.broker_url import uses_tls

    if not uses_tls(broker):
        return None, None
    from central.ca import FleetCA
    from central.cert_service import CertService

    ca = FleetCA.open(home)
    return ca.central_tls(), CertService(broker, store, keys, ca, worker_id=str(os.getpid())).start()


def _add_serve(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("serve", parents=[common], help="ingest submissions from the broker")
    p.add_argument("--broker", required=True, help="mqtt://host:port")
    p.add_argument("--db", help="SQLAlchemy URL (default sqlite in --home)")
    p.add_argument("--http", help="HOST:PORT for the operators' dashboard")
    p.add_argument("--workers", type=int, default=1, help="ingest workers on the shared subscription")
    from central.retention import days_arg

    p.add_argument("--telemetry-days", type=days_arg, default=None,
                   help="delete telemetry older than this many days (default $KIOSK_CENTRAL_TELEMETRY_DAYS "
                        "or 30; 0 keeps all)")
    p.add_argument("--crl-copy", help="the dashboard's revoke button also writes the CRL here (the broker's crlfile)")
    p.add_argument("--broker-reload", metavar="CMD",
                   help="the dashboard's revoke button runs CMD to make the broker re-read the CRL before it drops "
                        "the kiosk (e.g. 'systemctl reload mosquitto')")
    from central.web.auth import add_dashboard_arguments

    add_dashboard_arguments(p)
    from central.notifier import add_arguments as add_notify_arguments

    add_notify_arguments(p)
    p.add_argument("--gap-timeout", type=_gap_timeout, metavar="SECONDS",
                   help="how long a gap in a kiosk's sequence numbers may last before the central asks it to "
                        "send the missing messages again (default 600)")
    p.add_argument("--processes", type=whole_number(1, MAX_PROCESSES, "processes"), default=1, metavar="N",
                   help="ingest processes (1 to 64, default 1): this one and N-1 `kiosk-central ingest` "
                        "children, each with --workers workers, restarted if they exit")
    p.set_defaults(func=_cmd_serve)


def _add_ingest(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("ingest", parents=[common], help="ingest workers only, to scale out (no dashboard, "
                                                       "certificate service or retention)")
    p.add_argument("--broker", required=True, help="mqtt://host:port, or mqtts://host:port with the central's "
                                                   "TLS identity from --home")
    p.add_argument("--db", help="SQLAlchemy URL (default sqlite in --home)")
    p.add_argument("--workers", type=whole_number(1, None, "worker(s)"), default=1,
                   help="ingest workers on the shared subscription")
    p.add_argument("--gap-timeout", type=_gap_timeout, metavar="SECONDS",
                   help="as for serve (default 600)")
    p.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)  # serve's children: stop when it is gone
    p.set_defaults(func=_cmd_ingest)


COMMANDS = {"serve": _add_serve, "ingest": _add_ingest}  # name -> what adds it
