"""The sync config the stage tests start from: Contacts only (Leads disabled), no auto-create, no opt-out sync."""

from __future__ import annotations

import textwrap
from pathlib import Path

import yaml

from sync_engine.config import SyncConfig, load_config


def contacts_only(tmp_path: Path, *, auto_create: str = "none", extra: str = "") -> SyncConfig:
    """Write and load a config syncing Contacts only; *extra* is YAML appended as given. Opt-out sync is off
    unless *extra* names an ``opt_out_field``: the stage tests' frames carry no opt-out column."""
    text = textwrap.dedent(f"""\
        auto_create: {auto_create}
        objects:
          Lead:
            enabled: false
    """) + extra
    data = yaml.safe_load(text)
    data["objects"].setdefault("Contact", {}).setdefault("opt_out_field", False)
    path = tmp_path / "sync.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return load_config(path)
