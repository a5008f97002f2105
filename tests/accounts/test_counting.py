"""Counting is exact however the requests race: across connections, and across processes (servers).

Each racer has a state database connection of its own (a `StateDB` of its own); the racers start each
round together. The process test runs them in three processes, as three servers would. (Without the
write lock, Postgres admits more than the limit here: each transaction counts before the others insert.)
"""

from __future__ import annotations

import multiprocessing
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

from cms.accounts import DailyQuota, NewUser, Role, StateDB, TokenSigner, UserStore
from cms.accounts.sessions import LOGIN_FAILURES_ALLOWED, Sessions
from cms.errors import NotAuthenticated, RateLimited
from tests.accounts.conftest import CHEAP

SECRET = "a-test-secret-key-that-is-long-enough-0123456789"
PASSWORD = "correct horse battery"
RACERS, ROUNDS = 6, 5
QUOTA = 7


def _sessions(db: StateDB) -> Sessions:
    return Sessions(UserStore(db, CHEAP), TokenSigner(SECRET, 15), refresh_days=14)


def _outcome(attempt: Callable[[], object]) -> str:
    try:
        attempt()
    except NotAuthenticated:
        return "wrong"
    except RateLimited:
        return "limited"
    return "ok"


def race(url: str, together: Any) -> Counter[str]:
    """One racer: its own connection, ROUNDS of each counted thing, each begun with the other racers
    (`together` is a barrier); what each answered."""
    outcomes: Counter[str] = Counter()
    with StateDB(url) as db:
        sessions, quota = _sessions(db), DailyQuota(db, "AI draft", QUOTA)
        ada = sessions.users.find("ada")
        assert ada is not None
        for _ in range(ROUNDS):
            together.wait()
            outcomes["login " + _outcome(lambda: sessions.login("ada", "wrong password", "10.0.0.9"))] += 1
            together.wait()
            outcomes["change " + _outcome(lambda: sessions.change_password(ada, "wrong", "a new password"))] += 1
            together.wait()
            outcomes["quota " + _outcome(lambda: quota.take(ada.id))] += 1
    return outcomes


def expected(racers: int) -> Counter[str]:
    total = racers * ROUNDS
    return Counter({"login wrong": LOGIN_FAILURES_ALLOWED, "login limited": total - LOGIN_FAILURES_ALLOWED,
                    "change wrong": LOGIN_FAILURES_ALLOWED, "change limited": total - LOGIN_FAILURES_ALLOWED,
                    "quota ok": QUOTA, "quota limited": total - QUOTA})


def _add_ada(url: str) -> None:
    with StateDB(url) as db:
        UserStore(db, CHEAP).create(NewUser(username="ada", email="ada@example.com", password=PASSWORD,
                                            role=Role.ADMIN))


def test_racing_connections_get_exactly_the_limits(state_url: str) -> None:
    _add_ada(state_url)
    together = threading.Barrier(RACERS)
    with ThreadPoolExecutor(RACERS) as pool:
        results = list(pool.map(lambda _: race(state_url, together), range(RACERS)))
    assert sum(results, Counter()) == expected(RACERS)


def test_racing_processes_get_exactly_the_limits(state_url: str) -> None:
    _add_ada(state_url)
    spawn = multiprocessing.get_context("spawn")
    with spawn.Manager() as manager, ProcessPoolExecutor(3, mp_context=spawn) as pool:
        together = manager.Barrier(3)
        results = list(pool.map(race, [state_url] * 3, [together] * 3))
    assert sum(results, Counter()) == expected(3)
