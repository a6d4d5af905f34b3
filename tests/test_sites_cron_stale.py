"""The cron CronJob's stale-row cleanup (sites/scripts/cron-stale.php), run by the real php (Debian
php-cli + php-mysql) against a real MariaDB (Debian mariadb-server) with Magento's `cron_schedule` table:
rows left 'running' longer than a run may last become 'error'; a row running within that time, and rows
in any other state, are untouched."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from sites.scripts import HERE
from tests.servers import START_TIMEOUT, free_port, require_binary, start, wait_for_port

# Magento 2.4.8's cron_schedule (app/code/Magento/Cron/etc/db_schema.xml), the columns the script uses.
SCHEMA = """
CREATE TABLE cron_schedule (
  schedule_id int unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY,
  job_code varchar(255) NOT NULL DEFAULT '0',
  status varchar(7) NOT NULL DEFAULT 'pending',
  messages text,
  created_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
  scheduled_at timestamp NULL DEFAULT NULL,
  executed_at timestamp NULL DEFAULT NULL,
  finished_at timestamp NULL DEFAULT NULL
) ENGINE=InnoDB;
INSERT INTO cron_schedule (job_code, status, executed_at) VALUES
  ('indexer_reindex_all_invalid', 'running', UTC_TIMESTAMP() - INTERVAL 2 HOUR),
  ('sales_clean_quotes', 'running', UTC_TIMESTAMP() - INTERVAL 5 MINUTE),
  ('catalog_index_refresh_price', 'success', UTC_TIMESTAMP() - INTERVAL 3 HOUR),
  ('newsletter_send_all', 'pending', NULL);
"""


@pytest.fixture
def database(tmp_path: Path):
    mariadbd = require_binary("mariadbd", "mariadb-server")
    install_db = require_binary("mariadb-install-db", "mariadb-server", extra_paths=("/usr/bin",))
    client = require_binary("mariadb", "mariadb-client", extra_paths=("/usr/bin",))
    data, socket = tmp_path / "data", tmp_path / "mysqld.sock"
    data.mkdir()
    user = ["--user=root"] if os.geteuid() == 0 else []
    subprocess.run([install_db, "--no-defaults", f"--datadir={data}", "--auth-root-authentication-method=socket", "--skip-test-db", *user],
                   check=True, capture_output=True, timeout=120)
    port = free_port()
    server = start("mariadbd", [mariadbd, "--no-defaults", f"--datadir={data}", f"--socket={socket}", "--bind-address=127.0.0.1",
                                f"--port={port}", "--skip-name-resolve", "--innodb-buffer-pool-size=32M", "--skip-log-bin", *user], tmp_path)

    def sql(text: str) -> str:
        result = subprocess.run([client, "--no-defaults", "--batch", "--skip-column-names", f"--socket={socket}", "--user=root"],
                                input=text, capture_output=True, text=True, timeout=30)
        if result.returncode:
            raise AssertionError(result.stderr)
        return result.stdout

    try:
        wait_for_port(port, process=server.process)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                sql("SELECT 1")
                break
            except AssertionError:
                assert time.monotonic() < deadline, server.log_text()
                time.sleep(0.1)
        sql("CREATE DATABASE site_demo; CREATE USER 'site_demo'@'127.0.0.1' IDENTIFIED BY 'pw-demo';"
            "GRANT ALL ON site_demo.* TO 'site_demo'@'127.0.0.1';")
        sql("USE site_demo;" + SCHEMA)
        yield port, sql
    finally:
        server.stop()


def env_php(path: Path, port: int) -> Path:
    """The `db` section as sites/env_php.py writes it (host:port, schema, user, password)."""
    path.write_text(
        "<?php return ['db' => ['table_prefix' => '', 'connection' => ['default' => ["
        f"'host' => '127.0.0.1:{port}', 'dbname' => 'site_demo', 'username' => 'site_demo', 'password' => 'pw-demo']]]];\n"
    )
    return path


def test_rows_running_past_the_deadline_are_marked_error_and_nothing_else_changes(database, tmp_path):
    port, sql = database
    php = require_binary("php", "php-cli", extra_paths=("/usr/bin",))
    result = subprocess.run([php, str(HERE / "cron-stale.php"), str(env_php(tmp_path / "env.php", port)), "1800"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "cron: 1 stale running job(s) marked as error"
    rows = dict(line.split("\t", 1) for line in sql("SELECT job_code, status FROM site_demo.cron_schedule").splitlines())
    assert rows == {"indexer_reindex_all_invalid": "error", "sales_clean_quotes": "running",
                    "catalog_index_refresh_price": "success", "newsletter_send_all": "pending"}
    message = sql("SELECT messages FROM site_demo.cron_schedule WHERE job_code = 'indexer_reindex_all_invalid'")
    assert "marked stale by the cron CronJob" in message
    # Run again (every minute): nothing left to mark.
    again = subprocess.run([php, str(HERE / "cron-stale.php"), str(tmp_path / "env.php"), "1800"], capture_output=True, text=True, timeout=60)
    assert again.stdout.strip() == "cron: 0 stale running job(s) marked as error"


def test_a_database_it_cannot_reach_fails_the_run(tmp_path):
    php = require_binary("php", "php-cli", extra_paths=("/usr/bin",))
    result = subprocess.run([php, str(HERE / "cron-stale.php"), str(env_php(tmp_path / "env.php", free_port())), "1800"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0  # so `&& cron:run` does not start against a database it cannot reach
