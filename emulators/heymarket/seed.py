"""What a freshly reset emulator holds: one team, two inboxes, three members, no contacts, no fields.

The member emails are shared with the demo data generator (``emulators.demo_data``), whose Salesforce
users match some of them by email, so user mapping has something real to find.
"""

from __future__ import annotations

from typing import Any

TEAM_ID = 3301
TEAM_NAME = "Sandbox Team"
SEED_TIMESTAMP = "2026-01-05T09:00:00.000000Z"

SEED_USERS: tuple[dict[str, Any], ...] = (
    {"id": 501, "name": "Alex Morgan", "email": "alex.morgan@sandbox-team.example.com",
     "phone": "14155550101", "role_id": 1},
    {"id": 502, "name": "Priya Shah", "email": "priya.shah@sandbox-team.example.com",
     "phone": "14155550102", "role_id": 4},
    {"id": 503, "name": "Jordan Lee", "email": "jordan.lee@sandbox-team.example.com",
     "phone": "14155550103", "role_id": 4},
)

SEED_INBOXES: tuple[dict[str, Any], ...] = (
    {"id": 9001, "name": "Sales", "members": [501, 502], "phone": "14155550190"},
    {"id": 9002, "name": "Support", "members": [501, 503], "phone": "14155550191"},
)
