"""The config's ``setup`` section: defaults, documented keys, and each mistake with its fix."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from sync_engine.config import (
    ConfigError,
    SetupConfig,
    SyncConfig,
    load_config,
)
from tests.unit.setup.data import REPO


def test_setup_section_defaults_and_every_key_is_documented() -> None:
    assert SyncConfig().setup == SetupConfig(
        permission_set="Heymarket_User", user_mapping={}, exclude_users=()
    )
    text = (REPO / "include" / "mappings" / "example-full.yaml").read_text(encoding="utf-8")
    assert [name for name in SetupConfig.model_fields if f"{name}:" not in text] == []
    assert (
        load_config(REPO / "include" / "mappings" / "example-full.yaml").setup.permission_set
        == "Heymarket_User"
    )


def test_setup_section_mistakes_are_reported_with_their_fix(tmp_path: Path) -> None:
    path = tmp_path / "sync.yaml"
    path.write_text(
        textwrap.dedent("""\
        setup:
          permission_set: Heymarket User
          user_mapping:
            Alex@org.example.com: alex@team.example.com
            alex@ORG.example.com: other@team.example.com
          exclude_users: [alex@org.example.com, not-an-email]
        """),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    messages = {p.path: str(p) for p in info.value.problems}
    assert "'Heymarket User' is not a valid name" in messages["setup.permission_set"]
    assert "is not an e-mail address" in messages["setup.exclude_users[1]"]


def test_setup_users_named_twice_or_mapped_and_excluded_are_errors(tmp_path: Path) -> None:
    path = tmp_path / "sync.yaml"
    path.write_text(
        textwrap.dedent("""\
        setup:
          user_mapping:
            a@x.example.com: b@x.example.com
            A@X.example.com: c@x.example.com
          exclude_users: [a@x.example.com]
        """),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    messages = {p.path: str(p) for p in info.value.problems}
    assert (
        "A@X.example.com is mapped twice (also as a@x.example.com"
        in messages["setup.user_mapping.A@X.example.com"]
    )
    assert (
        "both mapped in user_mapping and listed in exclude_users — keep it in one of them"
        in (messages["setup.exclude_users[0]"])
    )
