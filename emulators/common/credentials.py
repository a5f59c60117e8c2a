"""The sandbox's made-up credentials: one place, used by the emulators, the sandbox env file and tests.

They are not secrets (the emulators only run on 127.0.0.1), but the code treats them exactly like real
ones, so tests can check that none of them ever reaches a log line.
"""

SALESFORCE_USERNAME = "integration@sandbox.example.com"
SALESFORCE_PASSWORD = "emulator-Passw0rd"
SALESFORCE_SECURITY_TOKEN = "EmuSecurityToken42"
SALESFORCE_API_VERSION = "59.0"

HEYMARKET_API_KEY = "hm_emulator_api_key_5f3a9c"
HEYMARKET_SECRET_ID = "74f80a77-9b3f-44ac-b3ad-ab68cfb548fa"
HEYMARKET_SECRET_KEY = "cPQku7lnSLbnK88UFOBg1a6Q3t1w1RgK"

SALESFORCE_DEFAULT_PORT = 8443
HEYMARKET_DEFAULT_PORT = 8600
