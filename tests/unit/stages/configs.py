"""The sync config the stage tests start from: Contacts only (Leads disabled), no auto-create, no opt-out sync."""

from __future__ import annotations

import textwrap
from pathlib import Path

from sync_engine.config import SyncConfig, load_config


def contacts_only(tmp_path: Path, *, auto_create: str = "none", extra: str = "") -> SyncConfig:
    """Write and load a config syncing Contacts only; *extra* is YAML appended as given."""
    path = tmp_path / "sync.yaml"
    path.write_text(textwrap.dedent(f"""\
        auto_create: {auto_create}
        objects:
          Contact:
            opt_out_field: false  # the stage tests' frames carry no opt-out column
          Lead:
            enabled: false
    """) + extra, encoding="utf-8")
    return load_config(path)
