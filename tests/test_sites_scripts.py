"""The scripts the store's pods run, run for real: the consumer wrapper under SIGTERM (with a stand-in
`php` that behaves like a consumer busy with a message), and the PHP scripts through the PHP linter."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from sites.scripts import HERE, scripts

FAKE_PHP = """#!/bin/sh
# Stands in for `php bin/magento queue:consumers:start <name> --max-messages=N`: logs, works, exits 0.
echo "start $3" >> "$LOG"
sleep "$WORK"
echo "done $3" >> "$LOG"
"""


def wrapper(tmp_path: Path, work: str, poll: str) -> tuple[subprocess.Popen, Path]:
    sh = shutil.which("dash") or shutil.which("sh")
    assert sh, "a POSIX shell is required"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    php = bin_dir / "php"
    php.write_text(FAKE_PHP)
    php.chmod(0o755)
    log = tmp_path / "log"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "LOG": str(log), "WORK": work, "POLL_SECONDS": poll,
           "MAX_MESSAGES": "10", "TMPDIR": str(tmp_path)}
    process = subprocess.Popen([sh, str(HERE / "consumers.sh"), "first", "second"], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return process, log


def lines(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def test_sigterm_lets_running_consumers_finish_and_starts_no_new_one(tmp_path):
    process, log = wrapper(tmp_path, work="2", poll="0")
    try:
        deadline = time.monotonic() + 10
        while len([line for line in lines(log) if line.startswith("start")]) < 2:
            assert time.monotonic() < deadline, "the consumers did not start"
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0
    log_lines = lines(log)
    # Each consumer was allowed to finish the message it was busy with, and none started after SIGTERM.
    assert sorted(log_lines) == ["done first", "done second", "start first", "start second"]
    assert "consumers stopped: first second" in out


def test_a_consumer_that_exits_is_started_again(tmp_path):
    process, log = wrapper(tmp_path, work="0", poll="0.2")
    try:
        time.sleep(1.5)
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
    starts = [line for line in lines(log) if line == "start first"]
    assert len(starts) >= 3, lines(log)
    assert process.returncode == 0


@pytest.mark.parametrize("name", [n for n in scripts() if n.endswith(".php")])
def test_php_scripts_parse(name):
    php = shutil.which("php")
    assert php, "php (Debian php-cli) is required"
    result = subprocess.run([php, "-l", str(HERE / name)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", [n for n in scripts() if n.endswith(".sh")])
def test_shell_scripts_pass_shellcheck(name):
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is required (.ci/run installs it)"
    result = subprocess.run([shellcheck, "-s", "sh", str(HERE / name)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout
