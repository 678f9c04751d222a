"""What a process can run: tasks by name (with what to do when a job of one dies),
work Celery beat runs periodically, and what the every-minute sweep runs first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

TASKS: dict[str, Callable[..., Any]] = {}
# name -> called with (the job's kwargs, its last error) when a job of that task dies.
ON_DEAD: dict[str, Callable[[dict[str, Any], str], Any]] = {}
# name -> (every how many seconds, function): run by Celery beat (shop/core/celery_app.py).
PERIODIC: dict[str, tuple[float, Callable[[], Any]]] = {}
# name -> function returning counts: what the every-minute sweep runs before the job
# sweeper (the orders package registers its own; the ground names no domain).
SWEEPERS: dict[str, Callable[[], dict[str, int]]] = {}


def task(name: str, *, on_dead: Callable[[dict[str, Any], str], Any] | None = None):
    """Register a function as the task ``name``; it is called with the job's kwargs.

    ``on_dead(kwargs, error)`` runs when a job of this task becomes dead (no retry
    left, or an error no retry helps), in a transaction of its own, so that the row
    the job worked on can say so to the people who watch it (not only the jobs list).
    """

    def register(function):
        TASKS[name] = function
        if on_dead is None:
            ON_DEAD.pop(name, None)
        else:
            ON_DEAD[name] = on_dead
        return function

    return register


def periodic(name: str, *, every_seconds: float):
    """Register a function that Celery beat runs every ``every_seconds`` (e.g. tracking
    polls). Without a broker nothing runs it: call it from cron through the CLI."""

    def register(function):
        PERIODIC[name] = (float(every_seconds), function)
        return function

    return register


def sweeper(name: str):
    """Register a function that the every-minute sweep (Celery beat's
    ``pavilion.sweep``) runs before sweeping lost jobs."""

    def register(function):
        SWEEPERS[name] = function
        return function

    return register
