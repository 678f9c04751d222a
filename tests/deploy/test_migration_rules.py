"""Migrations are safe to run while the previous release still serves (expand/contract).

A deploy runs ``flask --app wsgi db upgrade`` first (compose.yaml's ``migrate``) and
only then replaces the web processes and workers, so for a while the old code runs
on the new schema. A migration may therefore only *expand*:

- add tables;
- add columns that are nullable, or NOT NULL with a ``server_default`` (the old code
  inserts rows without them);
- add indexes to existing tables with ``postgresql_concurrently=True`` inside
  ``with op.get_context().autocommit_block():`` (a plain CREATE INDEX blocks every
  write to the table while it builds).

What *contracts* (dropping or renaming a table or column, making a column NOT NULL
without a default, changing its type, rewriting values the old code reads or writes)
comes a release later, once no running code uses the old shape. This test reads every
file in shop/migrations/versions and flags each operation of ``upgrade()`` that breaks
the rule, unless ALLOWED below lists it with the reason. Raw SQL (``op.execute``) is
always flagged: say in ALLOWED why the old release does not mind it.
"""

from __future__ import annotations

import ast
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest

VERSIONS = Path(__file__).resolve().parents[2] / "shop" / "migrations" / "versions"

# (migration file, finding) -> why it is allowed. Migrations are history: they are not
# edited once released, so the ones that broke the rule stay here, each with a verdict.
ALLOWED: dict[tuple[str, str], str] = {
    # -- Unsafe: these broke the old release while it still served. --
    ("0004_nodes_lanes_replace_ships_to.py", "drop_column nodes.ships_to"): (
        "UNSAFE. The previous release's Node model still selects ships_to, so every "
        "query loading a node fails until the new processes replace the old. Should "
        "have been two releases: stop reading the column (it had a server default), then "
        "drop it."
    ),
    ("0006_checkout_orders_payments_carts.py", "execute: UPDATE shipments SET status"): (
        "UNSAFE. Renames the shipment status 'reserved' to 'awaiting_payment' in place: "
        "the old release keeps writing 'reserved' after the UPDATE (rows the new release "
        "does not know) and finds 'awaiting_payment' it does not know. Should have been: "
        "new code accepting both, then the rewrite a release later."
    ),
    ("0014_shipment_order_number.py", "alter_column shipments.order_number: NOT NULL"): (
        "UNSAFE. The old release creates shipments without order_number, so checkout "
        "fails on the NOT NULL until it is replaced. Should have been: the nullable "
        "column, the backfill and code writing it in one release, NOT NULL the next."
    ),
    ("0014_shipment_order_number.py", "execute: UPDATE shipments SET order_number"): (
        "Safe by itself: a backfill of a column the old release does not know."
    ),
    # -- Indexes built with a write lock: safe for the old code, a pause for writers. --
    ("0002_merchant_skus.py", "create_index ix_skus_updated_at on skus: not concurrently"): (
        "Blocks writes to skus while it builds: a moment at a catalog's size. "
        "Would be CONCURRENTLY today."
    ),
    (
        "0003_stock_ledger_lanes_shipments.py",
        "create_index ix_orders_reservation_expires_at on orders: not concurrently",
    ): "Blocks writes to orders while it builds; then a young table. Would be CONCURRENTLY today.",
    (
        "0006_checkout_orders_payments_carts.py",
        "create_index ix_orders_customs_id_year on orders: not concurrently",
    ): "Blocks checkouts while it builds; the column is new and empty, so briefly.",
    (
        "0007_bins_pick_lists_packing_staff_sessions.py",
        "create_index ix_shipments_pick_list_id on shipments: not concurrently",
    ): "Blocks writes to shipments while it builds; the column is new and all NULL.",
    (
        "0009_carrier_bookings_labels_tracking.py",
        "create_index ix_shipments_carrier_reference on shipments: not concurrently",
    ): "Blocks writes to shipments while it builds; the column is new and all NULL.",
}


# ------------------------------------------------------------------ the checker


@dataclass
class _Checker(ast.NodeVisitor):
    """Walks ``upgrade()``; ``op.X(...)`` and ``batch_op.X(...)`` inside ``with
    op.batch_alter_table(table) as batch_op`` are the operations."""

    created: set[str]
    findings: list[str] = field(default_factory=list)
    batches: dict[str, str] = field(default_factory=dict)
    autocommit: bool = False

    def visit_With(self, node: ast.With) -> None:
        saved = dict(self.batches), self.autocommit
        for item in node.items:
            call = item.context_expr
            if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)):
                continue
            if call.func.attr == "batch_alter_table" and isinstance(item.optional_vars, ast.Name):
                self.batches[item.optional_vars.id] = _text(call.args[0])
            if call.func.attr == "autocommit_block":
                self.autocommit = True
        self.generic_visit(node)
        self.batches, self.autocommit = saved

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            if func.value.id == "op":
                self._operation(func.attr, None, node)
            elif func.value.id in self.batches:
                self._operation(func.attr, self.batches[func.value.id], node)
        self.generic_visit(node)

    def _operation(self, name: str, batch_table: str | None, call: ast.Call) -> None:
        args = list(call.args)
        kwargs = {keyword.arg: keyword.value for keyword in call.keywords if keyword.arg}
        if batch_table is not None and name in _TAKES_TABLE:
            args.insert(_TAKES_TABLE[name], ast.Constant(batch_table))
        flag = self.findings.append
        if name == "drop_table":
            flag(f"drop_table {_text(args[0])}")
        elif name == "rename_table":
            flag(f"rename_table {_text(args[0])}")
        elif name == "drop_column":
            flag(f"drop_column {_text(args[0])}.{_text(args[1])}")
        elif name == "add_column":
            column = args[1]
            column_kwargs = {k.arg: k.value for k in getattr(column, "keywords", [])}
            if _is_false(column_kwargs.get("nullable")) and not _given(
                column_kwargs.get("server_default")
            ):
                flag(f"add_column {_text(args[0])}.{_text(column.args[0])}: NOT NULL")
        elif name == "alter_column":
            where = f"{_text(args[0])}.{_text(args[1])}"
            if "new_column_name" in kwargs:
                flag(f"alter_column {where}: renamed")
            if "type_" in kwargs:
                flag(f"alter_column {where}: type changed")
            if _is_false(kwargs.get("nullable")) and not (
                _given(kwargs.get("server_default"))
                or _given(kwargs.get("existing_server_default"))
            ):
                flag(f"alter_column {where}: NOT NULL")
        elif name == "create_index":
            index, table = _text(args[0]), _text(args[1])
            concurrent = _is_true(kwargs.get("postgresql_concurrently"))
            if table not in self.created and not (concurrent and self.autocommit):
                flag(f"create_index {index} on {table}: not concurrently")
        elif name == "execute":
            statement = " ".join(_text(args[0]).split())
            flag(f"execute: {' '.join(statement.split()[:4])}")


# Where the table goes in op.X's arguments when batch_op.X leaves it out.
_TAKES_TABLE = {"drop_column": 0, "add_column": 0, "alter_column": 0, "create_index": 1}


def _text(node: ast.AST) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Call) and node.args:  # op.f('name'), batch_op.f('name')
        return _text(node.args[0])
    return ast.unparse(node)


def _is_false(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is False


def _is_true(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def _given(node: ast.AST | None) -> bool:
    return node is not None and not (isinstance(node, ast.Constant) and node.value is None)


def check_source(source: str) -> list[str]:
    """Every operation of ``upgrade()`` in a migration's source that breaks the rule."""
    tree = ast.parse(source)
    upgrades = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "upgrade"]
    assert len(upgrades) == 1, "a migration has one upgrade()"
    created = {
        _text(node.args[0])
        for node in ast.walk(upgrades[0])
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "create_table"
    }
    checker = _Checker(created)
    checker.visit(upgrades[0])
    return checker.findings


def down_revision(source: str):
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "down_revision" for target in node.targets
        ):
            return ast.literal_eval(node.value)
    raise AssertionError("no down_revision")


def migrations() -> list[Path]:
    return sorted(VERSIONS.glob("*.py"))


# ------------------------------------------------------------------ the migrations


@pytest.mark.parametrize("path", migrations(), ids=lambda path: path.stem)
def test_each_migration_keeps_the_previous_release_working(path):
    source = path.read_text()
    if down_revision(source) is None:
        # The initial schema: there is no older release for it to break.
        return
    unexplained = [f for f in check_source(source) if (path.name, f) not in ALLOWED]
    assert unexplained == [], (
        f"{path.name} breaks the expand/contract rule (module docstring): {unexplained}. "
        "Make it an expand-only migration, or add each to ALLOWED with the reason."
    )


def test_only_the_first_migration_is_the_initial_schema():
    initial = [path.name for path in migrations() if down_revision(path.read_text()) is None]
    assert initial == ["0001_catalog_foundation.py"]


def test_every_allowance_names_a_finding_that_exists():
    """An allowance for something no migration does any more is stale: remove it."""
    found = {(path.name, f) for path in migrations() for f in check_source(path.read_text())}
    assert set(ALLOWED) - found == set()


# ------------------------------------------------------------------ the checker itself


def _upgrade(body: str) -> str:
    return "def upgrade():\n" + textwrap.indent(textwrap.dedent(body), "    ")


def test_expanding_passes():
    assert (
        check_source(
            _upgrade("""
            op.create_table('labels', sa.Column('id', sa.Integer(), nullable=False))
            op.create_index('ix_labels_id', 'labels', ['id'])
            with op.batch_alter_table('orders', schema=None) as batch_op:
                batch_op.add_column(sa.Column('note', sa.String(), nullable=True))
                batch_op.add_column(sa.Column('n', sa.Integer, nullable=False, server_default='0'))
            op.add_column('orders', sa.Column('memo', sa.Text()))
            with op.get_context().autocommit_block():
                op.create_index('ix_orders_note', 'orders', ['note'], postgresql_concurrently=True)
            op.alter_column('orders', 'n', nullable=False, existing_server_default='0')
            op.drop_index('ix_orders_old')
            """)
        )
        == []
    )


def test_contracting_is_flagged():
    found = check_source(
        _upgrade("""
        op.drop_table('carts')
        op.rename_table('lanes', 'routes')
        op.drop_column('orders', 'email')
        op.add_column('orders', sa.Column('token', sa.String(), nullable=False))
        op.alter_column('orders', 'number', new_column_name='code')
        op.alter_column('orders', 'status', type_=sa.String(40))
        op.alter_column('orders', 'email', nullable=False)
        with op.batch_alter_table('skus', schema=None) as batch_op:
            batch_op.drop_column('deleted_at')
            batch_op.add_column(sa.Column('code2', sa.String(), nullable=False))
            batch_op.alter_column('code', nullable=False, server_default=None)
            batch_op.create_index(batch_op.f('ix_skus_code'), ['code'], unique=False)
        op.create_index('ix_orders_email', 'orders', ['email'], postgresql_concurrently=True)
        op.execute("UPDATE orders SET status = 'x'")
        """)
    )
    assert found == [
        "drop_table carts",
        "rename_table lanes",
        "drop_column orders.email",
        "add_column orders.token: NOT NULL",
        "alter_column orders.number: renamed",
        "alter_column orders.status: type changed",
        "alter_column orders.email: NOT NULL",
        "drop_column skus.deleted_at",
        "add_column skus.code2: NOT NULL",
        "alter_column skus.code: NOT NULL",
        "create_index ix_skus_code on skus: not concurrently",
        # CONCURRENTLY cannot run inside the migration's transaction.
        "create_index ix_orders_email on orders: not concurrently",
        "execute: UPDATE orders SET status",
    ]


def test_downgrade_may_contract():
    source = _upgrade("op.create_table('t')") + "\n\ndef downgrade():\n    op.drop_table('t')\n"
    assert check_source(source) == []
