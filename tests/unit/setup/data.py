"""Users, describes, inboxes and config builders the setup step tests share."""

from __future__ import annotations

import json
from pathlib import Path

from sync_engine.config import SetupConfig, SyncConfig
from sync_engine.setup.user_mapping import HeymarketUser, PermissionSetCheck, SalesforceUser

REPO = Path(__file__).resolve().parents[3]
DESCRIBES: dict[str, dict] = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "salesforce_describe.json").read_text(encoding="utf-8")
)

ALEX = SalesforceUser(
    "005000000000001AAA", "alex@org.example.com", "Alex.Morgan@Team.example.com", "Alex Morgan"
)
PRIYA = SalesforceUser("005000000000002AAA", "priya@org.example.com", "priya@team.example.com", "Priya Shah")
CHRIS = SalesforceUser(
    "005000000000003AAA", "chris@org.example.com", "chris@elsewhere.example.com", "Chris Wong"
)
BOT = SalesforceUser(
    "005000000000004AAA", "integration@org.example.com", "integration@org.example.com", "Bot"
)
HM_ALEX = HeymarketUser(501, "alex.morgan@team.example.com", "Alex Morgan")
HM_PRIYA = HeymarketUser(502, "priya@team.example.com", "Priya Shah")
HM_JORDAN = HeymarketUser(503, "jordan@team.example.com", "Jordan Lee")
SF_USERS = [PRIYA, CHRIS, ALEX, BOT]
HM_USERS = [HM_JORDAN, HM_PRIYA, HM_ALEX]
PERMISSION_SET = PermissionSetCheck(
    "Heymarket_User", "0PS000000000001AAA", ("Heymarket_Admin", "Heymarket_User")
)


def setup(**values: object) -> SetupConfig:
    return SetupConfig.model_validate(values)


def config(**values: object) -> SyncConfig:
    return SyncConfig.model_validate(values)


INBOXES = [{"id": 9001, "name": "Sales"}, {"id": 9002, "name": "Support"}]
