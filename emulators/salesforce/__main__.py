"""``python -m emulators.salesforce --host 127.0.0.1 --port 8443 --cert-dir DIR`` (HTTPS, self-signed)."""

from emulators.common import credentials
from emulators.common.server import run
from emulators.salesforce.app import create_app

if __name__ == "__main__":
    run("salesforce", credentials.SALESFORCE_DEFAULT_PORT, create_app, tls=True)
