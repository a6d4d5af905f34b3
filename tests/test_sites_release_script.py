"""The release Job's script (sites/scripts/release.sh) run for real under a POSIX shell, with a stand-in `php`
that answers Magento's status commands with the exit codes Magento uses (`setup:db:status` and
`app:config:status`: 0 current, 2 changes pending). What a user notices: an upgrade runs only when the
schema asks for one, always with `--keep-generated`, after cron and consumers are paused; anything
unexpected fails the Job, and a failed Job is what keeps Pulumi from rolling the web tiers (the old release
serves: test_sites_workloads.py, test_release_job_is_named_after_the_release_and_runs_before_the_tiers_roll)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from sites.scripts import scripts

# Logs every call; the exit code of each command comes from the environment (DB_STATUS for the first
# `setup:db:status`, DB_AFTER for the check after the upgrade).
FAKE_PHP = """#!/bin/sh
echo "$*" >> "$LOG"
case "$*" in
    *"kube.php pause"*) exit "${PAUSE:-0}" ;;
    *setup:db:status*)
        if [ "$(grep -c 'setup:db:status' "$LOG")" -eq 1 ]; then exit "${DB_STATUS:-0}"; fi
        exit "${DB_AFTER:-0}" ;;
    *setup:upgrade*) exit "${UPGRADE:-0}" ;;
    *app:config:status*) exit "${CONFIG_STATUS:-0}" ;;
    *app:config:import*) exit "${IMPORT:-0}" ;;
esac
echo "unexpected php call: $*" >&2
exit 99
"""


def run_release(tmp_path: Path, **statuses: int) -> tuple[subprocess.CompletedProcess, list[str]]:
    sh = shutil.which("dash") or shutil.which("sh")
    assert sh, "a POSIX shell is required"
    bin_dir, script_dir = tmp_path / "bin", tmp_path / "scripts"
    bin_dir.mkdir()
    script_dir.mkdir()
    (bin_dir / "php").write_text(FAKE_PHP)
    (bin_dir / "php").chmod(0o755)
    # the file as the ConfigMap `magento-release-scripts` delivers it (sites/site.py mounts scripts())
    (script_dir / "release.sh").write_text(scripts()["release.sh"])
    log = tmp_path / "calls"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "LOG": str(log), "SCRIPTS": str(script_dir),
           "RELEASE": "2-4-8-p3-2026-11-20", **{k.upper(): str(v) for k, v in statuses.items()}}
    result = subprocess.run([sh, str(script_dir / "release.sh")], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=30)
    calls = [line.replace(str(script_dir), "$SCRIPTS") for line in log.read_text().splitlines()] if log.exists() else []
    return result, calls


PAUSE = "$SCRIPTS/kube.php pause"
DB_STATUS = "bin/magento setup:db:status --no-ansi"
UPGRADE = "bin/magento setup:upgrade --keep-generated --no-interaction --no-ansi"
CONFIG_STATUS = "bin/magento app:config:status --no-ansi"
IMPORT = "bin/magento app:config:import --no-interaction --no-ansi"


def test_a_current_schema_is_not_upgraded(tmp_path):
    result, calls = run_release(tmp_path, db_status=0, config_status=0)
    assert result.returncode == 0, result.stderr
    assert calls == [PAUSE, DB_STATUS, CONFIG_STATUS]
    assert "schema and data are current" in result.stdout and "release 2-4-8-p3-2026-11-20: done" in result.stdout


def test_a_pending_schema_change_is_upgraded_once_keeping_the_compiled_code(tmp_path):
    result, calls = run_release(tmp_path, db_status=2, db_after=0, config_status=2)
    assert result.returncode == 0, result.stderr
    assert calls == [PAUSE, DB_STATUS, UPGRADE, DB_STATUS, CONFIG_STATUS, IMPORT]


@pytest.mark.parametrize(
    ("statuses", "ran", "code"),
    [
        # the pause did not finish (the API refused, or a cron run did not end): nothing touches the schema
        ({"pause": 1}, [PAUSE], 1),
        # setup:db:status itself failed (database unreachable, uninstalled): no upgrade is attempted
        ({"db_status": 1}, [PAUSE, DB_STATUS], 1),
        # the upgrade failed: no config import, the Job fails
        ({"db_status": 2, "upgrade": 1}, [PAUSE, DB_STATUS, UPGRADE], 1),
        # the upgrade ran but the schema is still not current (a module the code lacks): the Job fails
        ({"db_status": 2, "db_after": 2}, [PAUSE, DB_STATUS, UPGRADE, DB_STATUS], 2),
        # app:config:status failed, or the import did
        ({"config_status": 1}, [PAUSE, DB_STATUS, CONFIG_STATUS], 1),
        ({"config_status": 2, "import": 1}, [PAUSE, DB_STATUS, CONFIG_STATUS, IMPORT], 1),
    ],
)
def test_any_failure_fails_the_job_and_stops_there(tmp_path, statuses, ran, code):
    result, calls = run_release(tmp_path, **statuses)
    assert result.returncode == code
    assert calls == ran
    assert "done" not in result.stdout
