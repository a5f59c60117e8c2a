"""The emulator's self-signed certificates: each one verifies next to any other in one CA bundle."""

from __future__ import annotations

import socket
import ssl
import threading
from pathlib import Path

from emulators.common.tls import ensure_certificate


def _handshake(server_cert: Path, server_key: Path, bundle: Path) -> None:
    """A TLS server on a free port with this certificate; a client trusting ``bundle`` connects to it."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(server_cert, server_key)
    client_ctx = ssl.create_default_context(cafile=str(bundle))
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def serve() -> None:
            conn, _ = listener.accept()
            try:
                with server_ctx.wrap_socket(conn, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                pass

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
                client_ctx.wrap_socket(raw, server_hostname="127.0.0.1"):
            pass
        thread.join(timeout=5)


def test_two_emulator_certificates_in_one_bundle_both_verify(tmp_path: Path) -> None:
    # make demo's sandbox builds its bundle from the one already in REQUESTS_CA_BUNDLE: two emulator
    # certificates end up side by side, and a shared subject name made OpenSSL pick the wrong one
    first = ensure_certificate(tmp_path / "first")
    second = ensure_certificate(tmp_path / "second")
    bundle = tmp_path / "bundle.pem"
    bundle.write_text(first[0].read_text() + second[0].read_text())
    _handshake(*first, bundle)
    _handshake(*second, bundle)


def test_the_pair_is_kept_between_calls(tmp_path: Path) -> None:
    cert, key = ensure_certificate(tmp_path)
    before = cert.read_bytes()
    assert ensure_certificate(tmp_path) == (cert, key) and cert.read_bytes() == before
    assert oct(key.stat().st_mode & 0o777) == "0o600"
