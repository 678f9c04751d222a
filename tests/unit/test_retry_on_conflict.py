import pytest
from sqlalchemy.exc import OperationalError

from shop.core.transactions import is_retryable, retry_on_conflict


class FakeDriverError(Exception):
    def __init__(self, sqlstate):
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def conflict(sqlstate):
    return OperationalError("UPDATE stock_levels ...", {}, FakeDriverError(sqlstate))


class FakeSession:
    rollbacks = 0

    def rollback(self):
        FakeSession.rollbacks += 1


@pytest.fixture(autouse=True)
def fake_session(monkeypatch):
    import shop.core.transactions

    FakeSession.rollbacks = 0
    monkeypatch.setattr(
        shop.core.transactions, "db", type("FakeDb", (), {"session": FakeSession()})
    )
    monkeypatch.setattr(shop.core.transactions.time, "sleep", lambda seconds: None)


def test_a_deadlock_is_retried_after_a_rollback_and_then_succeeds():
    calls = []

    @retry_on_conflict(attempts=3)
    def hold_stock():
        calls.append(1)
        if len(calls) < 3:
            raise conflict("40P01")
        return "held"

    assert hold_stock() == "held"
    assert len(calls) == 3
    assert FakeSession.rollbacks == 2


def test_a_conflict_that_keeps_coming_is_raised_after_the_last_attempt():
    @retry_on_conflict(attempts=2)
    def always_conflicts():
        raise conflict("40001")

    with pytest.raises(OperationalError):
        always_conflicts()


def test_other_database_errors_are_not_retried():
    calls = []

    @retry_on_conflict()
    def broken():
        calls.append(1)
        raise conflict("23505")

    with pytest.raises(OperationalError):
        broken()
    assert calls == [1]
    assert not is_retryable(conflict("23505"))
    assert is_retryable(conflict("40001"))
