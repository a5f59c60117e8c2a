"""``python -m emulators.heymarket --host 127.0.0.1 --port 8600``: the emulator over plain HTTP."""

from emulators.common import credentials
from emulators.common.server import run
from emulators.heymarket.app import create_app

if __name__ == "__main__":
    run("heymarket", credentials.HEYMARKET_DEFAULT_PORT, create_app)
