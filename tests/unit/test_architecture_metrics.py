"""The layout measures behind docs/architecture.md's before/after table (scripts/architecture_metrics.py)."""

from __future__ import annotations

from pathlib import Path

from scripts.architecture_metrics import measure

FILES = {
    "plugins/pkg/__init__.py": "from pkg.a import A\n",
    "plugins/pkg/a.py": (
        "from typing import TYPE_CHECKING, Literal\n"
        "if TYPE_CHECKING:\n    from pkg.b import B\n"
        "Direction = Literal['in', 'out']\n"
        "class A:\n    pass\n"
    ),
    "plugins/pkg/b.py": "from pkg.a import A\nDirection = Literal['up']\nclass B(A):\n    pass\n",
    "plugins/sync_operators/op.py": (
        "from sqlalchemy import insert\n"
        "class Op:\n"
        "    def execute(self, context):\n"
        "        x = context['ti'].xcom_pull(task_ids='plan')  # type: ignore[index]\n"
        "        q = f'SELECT Id FROM Contact WHERE Id = {x}'\n"
        "        return insert(x)\n"
    ),
    "plugins/sync_engine/state/store.py": "SQL = 'SELECT id FROM hm_sync_link'\n",
}


def test_measures_a_small_tree(tmp_path: Path) -> None:
    for name, text in FILES.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    metrics = measure(tmp_path)
    assert metrics.execute_lengths == {"sync_operators.op.Op.execute": 4}
    assert [s.split(" ", 1)[1] for s in metrics.sql_outside] == ["SQL/SOQL f-string", "sqlalchemy insert()"]
    assert metrics.task_id_strings == ["sync_operators.op:4"]
    assert metrics.same_name_different_meaning == {"Direction": ["pkg.a", "pkg.b"]}
    assert metrics.import_cycles == [["pkg.a", "pkg.b"]]  # the TYPE_CHECKING import counts
    assert metrics.type_ignores == ["sync_operators.op:4"]
