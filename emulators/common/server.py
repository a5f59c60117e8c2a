"""Command-line runner shared by ``python -m emulators.salesforce`` and ``python -m emulators.heymarket``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI


def run(name: str, default_port: int, make_app: Callable[[], FastAPI], tls: bool = False) -> None:
    import uvicorn

    from emulators.common.tls import ensure_certificate

    parser = argparse.ArgumentParser(prog=f"python -m emulators.{name}", description=f"Local {name} API emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=default_port)
    if tls:
        parser.add_argument("--cert-dir", type=Path, default=Path(".sandbox/certs"),
                            help="where the self-signed certificate is kept (created if missing)")
    args = parser.parse_args()

    ssl_args = {}
    if tls:
        cert, key = ensure_certificate(args.cert_dir)
        ssl_args = {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}
    # Clients keep connections alive; a short graceful window lets tests and sandbox-down stop us at once.
    uvicorn.run(make_app(), host=args.host, port=args.port, log_level="warning", access_log=False,
                timeout_graceful_shutdown=1, **ssl_args)
