"""The import contracts in setup.cfg hold on this tree, and they catch a back-edge.

``lint-imports`` runs in ``.ci/run`` too; these tests prove that the contracts are
not vacuous: a copy of the tree with one import running back up the layers (at
the top of a file, or hidden inside a function) must fail, naming that import.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("shop", "catalog", "orders", "warehouse")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(
    not LINT_IMPORTS.exists(), reason="lint-imports is not installed (pip install -e '.[test]')"
)


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(tree / "setup.cfg")],
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def tree_copy(tmp_path_factory) -> Path:
    """The four packages and setup.cfg, without templates, static files or data."""
    tree = tmp_path_factory.mktemp("tree")
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package,
            tree / package,
            ignore=shutil.ignore_patterns(
                "__pycache__", "templates", "static", "translations", "fonts", "*.json", "*.xml"
            ),
        )
    shutil.copy(ROOT / "setup.cfg", tree / "setup.cfg")
    return tree


def _with_line(tree: Path, module: str, line: str, tmp_path: Path) -> Path:
    """A copy of ``tree`` where ``module`` (a dotted path to a .py file) gains ``line``."""
    edited = tmp_path / "edited"
    shutil.copytree(tree, edited)
    path = edited.joinpath(*module.split(".")).with_suffix(".py")
    if not path.exists():
        path = path.with_suffix("") / "__init__.py"
    path.write_text(path.read_text(encoding="utf-8") + "\n" + line + "\n", encoding="utf-8")
    return edited


def test_the_contracts_hold_on_this_tree(tree_copy):
    result = _lint(tree_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "named"),
    [
        # the catalog reaching up into orders at the top of a file
        ("catalog.money", "from orders import lifecycle  # noqa", "catalog.money -> orders"),
        # the warehouse setting an order's state, hidden inside a function
        (
            "warehouse.models",
            "def _sneaky():\n    from orders.models import Order\n    return Order",
            "warehouse.models -> orders.models",
        ),
        # the ground importing the web layer
        ("shop.core.clock", "import shop.app  # noqa", "shop.core.clock -> shop.app"),
        # a pure policy reaching for the database
        ("orders.lifecycle", "import sqlalchemy  # noqa", "orders.lifecycle"),
    ],
)
def test_a_back_edge_breaks_a_contract_and_is_named(tree_copy, tmp_path, module, line, named):
    result = _lint(_with_line(tree_copy, module, line, tmp_path))
    assert result.returncode != 0
    assert "BROKEN" in result.stdout
    assert named in result.stdout
