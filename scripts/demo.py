"""``make demo``: emulators with demo data, one full two-way sync, then a second run that changes nothing."""

from __future__ import annotations

import os
import sys
from collections import Counter

from scripts.airflow_env import HomeBusy, LocalHome, prepare_environment
from scripts.terminal import report_crash, silence_library_warnings

DEMO_SIZE = int(os.environ.get("DEMO_SIZE", "200"))


def _banner(text: str) -> None:
    print(f"\n{'=' * 100}\n{text}\n{'=' * 100}", flush=True)


def main() -> int:
    silence_library_warnings()
    try:
        return demo()
    except HomeBusy as exc:
        print(exc, file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - one line instead of a traceback, unless LOG_LEVEL=DEBUG
        return report_crash("make demo", exc)


def demo() -> int:
    LocalHome.current("make demo")  # before touching the sandbox another make command may be using
    from emulators.common.client import AdminClient
    from emulators.demo_data import generate
    from emulators.sandbox import ENV_FILE, SANDBOX, read_env, up

    _banner("1/4  Starting the Salesforce and Heymarket emulators (make sandbox-up)")
    up(int(os.environ.get("SF_PORT", 8443)), int(os.environ.get("HM_PORT", 8600)), None)
    env = read_env(ENV_FILE)
    state_db = SANDBOX / "state.db"
    if state_db.exists():
        state_db.unlink()  # the demo starts from a clean slate: empty links, no watermarks
    salesforce = AdminClient(env["HEYMARKET_SYNC_SANDBOX_SALESFORCE_URL"], verify=env["REQUESTS_CA_BUNDLE"])
    heymarket = AdminClient(env["HEYMARKET_SYNC_SANDBOX_HEYMARKET_URL"])

    _banner(f"2/4  Loading demo data ({DEMO_SIZE} Salesforce records, mixed phone formats, overlaps, duplicates)")
    data = generate(size=DEMO_SIZE, seed=7)
    salesforce.reset()
    heymarket.reset()
    print("Salesforce:", salesforce.load(data.salesforce))
    print("Heymarket: ", heymarket.load(data.heymarket))

    prepare_environment()
    from scripts.sync import run_sync

    _banner("3/4  First run: full two-way sync")
    state, first = run_sync({"mode": "full"}, prog="make demo")
    _banner("3/4  First run: summary")
    print(first.get("summary", f"run ended {state}"))
    if state != "success":
        return 1

    _banner("4/4  Second run: nothing changed on either side, so nothing is written")
    state, second = run_sync({"mode": "full"}, prog="make demo")
    _banner("4/4  Second run: summary")
    print(second.get("summary", f"run ended {state}"))

    sf_dump, hm_dump = salesforce.dump(), heymarket.dump()
    objects = Counter({name: len([r for r in sf_dump.get(name, []) if not r.get("IsDeleted")])
                       for name in ("Contact", "Lead")})
    print(f"\nNow: Salesforce has {objects['Contact']} Contacts and {objects['Lead']} Leads; Heymarket has "
          f"{len(hm_dump.get('contacts', []))} contacts.")
    print("The emulators keep running (make sandbox-down stops them); `make sync` runs the sync again.")
    return 0 if state == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
