"""Self-signed TLS for the Salesforce emulator.

simple-salesforce always builds ``https://`` URLs, so the Salesforce emulator has to speak TLS. We make a
throw-away CA-less certificate for 127.0.0.1 / localhost and hand its path to clients via
``REQUESTS_CA_BUNDLE``; nothing is ever downloaded.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path


def ensure_certificate(cert_dir: Path) -> tuple[Path, Path]:
    """Return ``(cert.pem, key.pem)`` in *cert_dir*, creating them on first use.

    :param cert_dir: folder that keeps the pair between runs, so that a running client's
        ``REQUESTS_CA_BUNDLE`` stays valid when an emulator restarts.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    cert_dir.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = cert_dir / "cert.pem", cert_dir / "key.pem"
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path

    key = ec.generate_private_key(ec.SECP256R1())
    serial = x509.random_serial_number()
    # A name of its own per certificate: OpenSSL looks issuers up by name, so two emulator certificates with
    # the same name in one CA bundle (two sandboxes, or the tests' emulator next to make demo's) would make
    # it check one against the other's key and fail.
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, f"heymarket-sync emulator {serial:x}")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost"),
                 # the compose file's service name, for the sandbox profile
                 x509.DNSName("salesforce-emulator")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path
