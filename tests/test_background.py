"""offline.background: a plan step run in a forked process gives the result it gives in this one, raises its
error here, and a child that dies is reported; with one core the step runs in this process."""

from __future__ import annotations

import os

import pytest

from offline import background
from offline.policy_check import check_recording


def _pid_and(value: int) -> tuple[int, int]:
    return os.getpid(), value * 2


def _fails() -> None:
    raise ValueError("the step's own error")


def _dies() -> None:
    os._exit(3)


def test_the_step_runs_in_another_process_and_its_result_comes_back(monkeypatch):
    monkeypatch.setattr(background, "cores", lambda: 2)
    pid, doubled = background.in_background(_pid_and, 21)()
    assert doubled == 42 and pid != os.getpid()


def test_its_error_is_raised_here_and_a_dead_child_is_named(monkeypatch):
    monkeypatch.setattr(background, "cores", lambda: 2)
    with pytest.raises(ValueError, match="the step's own error"):
        background.in_background(_fails)()
    with pytest.raises(RuntimeError, match=r"_dies ended without a result \(exit code 3\)"):
        background.in_background(_dies)()


def test_with_one_core_it_runs_here_at_once(monkeypatch):
    monkeypatch.setattr(background, "cores", lambda: 1)
    pid, _ = background.in_background(_pid_and, 1)()
    assert pid == os.getpid()


def test_the_policy_report_from_the_background_is_the_one_made_here(prod, monkeypatch):
    monkeypatch.setattr(background, "cores", lambda: 2)
    here = check_recording(prod)
    there = background.in_background(check_recording, prod)()
    assert there.to_dict() == here.to_dict() and there.not_applicable == here.not_applicable
    assert there.to_markdown() == here.to_markdown()
