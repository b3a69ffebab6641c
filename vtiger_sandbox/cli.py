"""``vtiger-sandbox serve ...``: start the Vtiger-compatible server (see docs/CONTRACTS.md).

The banner is printed only once the socket listens, so a parent process (``SandboxServer``)
can wait for it and then talk to the server immediately. ``--port 0`` picks a free port and
the banner tells which. SIGTERM/SIGINT stop uvicorn gracefully; the database is then
checkpointed and closed so the SQLite file is complete on its own.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path

import uvicorn

from .app import build_app
from .backend import VtigerBackend
from .backend.settings import DEFAULT_SETTINGS, FLAVOR_ALIASES, FLAVORS
from .modules import load_modules
from .seed import apply_seed
from .store import Store
from .urls import REST_PREFIX


class _Server(uvicorn.Server):
    """uvicorn server that prints the banner when it is really listening."""

    banner_info: tuple[str, str, str] = ("127.0.0.1", "admin", "")
    scheme = "http"

    def handle_exit(self, sig: int, _frame: object) -> None:
        """Graceful stop without re-raising the signal afterwards: exit code 0."""
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        self.should_exit = True

    async def startup(self, sockets: list | None = None) -> None:
        await super().startup(sockets)
        if self.should_exit:
            return
        host, username, key = self.banner_info
        port = self.config.port
        for server in getattr(self, "servers", []):
            for sock in server.sockets:
                port = sock.getsockname()[1]
                break
        url = f"{self.scheme}://{host}:{port}"
        print(f"vtiger-sandbox serving {url}", flush=True)
        print(f"username: {username}", flush=True)
        print(f"access_key: {key}", flush=True)
        print(f"rest endpoint: {url}{REST_PREFIX}", flush=True)


def build_parser() -> argparse.ArgumentParser:
    """Command line: ``vtiger-sandbox serve``."""
    p = argparse.ArgumentParser(prog="vtiger-sandbox", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="serve the sandbox until SIGTERM/SIGINT")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8088, help="0 = any free port")
    s.add_argument("--db", default="vtiger-sandbox.sqlite", help="SQLite file (kept)")
    s.add_argument("--seed", default="empty", help="demo | empty | N (N Contacts)")
    s.add_argument("--username", default="admin")
    s.add_argument("--access-key", default=None, help="generated (and kept in the db) if unset")
    s.add_argument("--flavor", choices=[*FLAVORS, *FLAVOR_ALIASES], default=None,
                   help="cloud | self-hosted-sync (alias self-hosted) | self-hosted-stock")
    s.add_argument("--edition", default=None,
                   choices=["one-growth", "one-professional", "one-enterprise", "unlimited"],
                   help="Vtiger Cloud edition whose API limits apply (default one-enterprise: "
                   "90 calls a minute, 5,000 an hour, 120,000 a day)")
    s.add_argument("--time-scale", type=float, default=None,
                   help="run the rate limiter's clock this much faster (benchmarks)")
    s.add_argument("--config", default=None, help="JSON file with settings (see /_sandbox/config)")
    s.add_argument("--log-level", default="warning")
    # TLS (tests of verify_ssl/ca_bundle): uvicorn's own options; the banner then says https
    s.add_argument("--ssl-certfile", default=None, help="PEM certificate (chain): serve https")
    s.add_argument("--ssl-keyfile", default=None, help="PEM private key of --ssl-certfile")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``vtiger-sandbox`` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=getattr(logging, args.log_level.upper(), logging.WARNING))
    db = Path(args.db)
    if db.parent and not db.parent.exists():
        db.parent.mkdir(parents=True, exist_ok=True)
    store = Store(db, load_modules())
    backend = VtigerBackend(store)
    settings: dict = {}
    if args.config:
        settings.update(json.loads(Path(args.config).read_text()))
    if args.flavor:
        settings["flavor"] = args.flavor
    if args.edition:
        settings["edition"] = args.edition
    if args.time_scale:
        settings["time_scale"] = args.time_scale
    unknown = set(settings) - set(DEFAULT_SETTINGS)
    if unknown:
        print(f"unknown settings: {sorted(unknown)}", file=sys.stderr)
        return 2
    if settings:
        backend.configure(settings)
    key = backend.bootstrap(args.username, args.access_key)
    apply_seed(backend, args.seed)
    app = build_app(backend)
    config = uvicorn.Config(app, host=args.host, port=args.port, http="h11", lifespan="off",
                            log_level=args.log_level, access_log=False,
                            ssl_certfile=args.ssl_certfile, ssl_keyfile=args.ssl_keyfile,
                            # a client that refused the certificate leaves a connection uvicorn
                            # would wait for forever on SIGTERM
                            timeout_graceful_shutdown=2 if args.ssl_certfile else None)
    server = _Server(config)
    if args.ssl_certfile:
        server.scheme = "https"
    server.banner_info = (args.host, args.username, key)
    try:
        server.run()
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
