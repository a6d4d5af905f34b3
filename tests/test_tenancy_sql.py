"""The per-site tenancy SQL (components/data/sql/tenancy.sql) against a real MariaDB server.

Debian's mariadb-server, started on loopback and a socket in a temporary directory: the SQL the
program renders runs twice (the second run changes nothing), runs over a schema that holds data (nothing
is dropped), and site A's user can neither read nor write site B's schema, nor a look-alike schema an
unescaped `_` in the grant would have reached.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Iterator
from pathlib import Path

import pytest

from components.data.tenancy_sql import database_name, grant_pattern, render, user_name
from tests.servers.mariadb import MariaDB, mariadb_server

SITES = {"shop-fr": 40, "shop-de": 25}


def password() -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(32))


PASSWORDS = {site: password() for site in SITES}


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDB]:
    with mariadb_server(Path(tmp_path_factory.mktemp("mariadb"))) as server:
        yield server


def apply(db: MariaDB, site: str) -> None:
    result = db.run_sql(render(site, PASSWORDS[site], SITES[site]))
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr and "ERROR" not in result.stderr, result.stderr


def state(db: MariaDB) -> list[list[list[str]]]:
    """Everything the SQL can touch: schemas, users (with password hash and limits), schema grants, tables."""
    return [
        db.query("SELECT schema_name, default_character_set_name, default_collation_name FROM information_schema.schemata ORDER BY 1"),
        db.query("SELECT user, host, priv FROM mysql.global_priv ORDER BY 1, 2"),
        db.query("SELECT * FROM mysql.db ORDER BY host, db, user"),
        db.query("SELECT table_schema, table_name, table_rows FROM information_schema.tables "
                 "WHERE table_schema LIKE 'magento%' ORDER BY 1, 2"),
    ]


def as_site(db: MariaDB, site: str, sql: str):
    return db.run_sql(sql, user=user_name(site), password=PASSWORDS[site])


# ------------------------------------------------------------------------------------ rendering


def test_names_stay_within_mysql_limits_and_apart():
    assert database_name("shop-fr") == "magento_shop_fr"
    assert user_name("shop-fr") == "s_shop_fr"
    longest = "a" * 30
    assert len(user_name(longest)) == 32 and len(database_name(longest)) <= 64
    assert user_name("root") != "root" and user_name("monitor") != "monitor"


def test_grant_escapes_wildcards():
    assert grant_pattern("magento_shop_fr") == "magento\\_shop\\_fr"
    sql = render("shop-fr", "A" * 32, 40)
    assert "ON `magento\\_shop\\_fr`.* TO 's_shop_fr'@'%'" in sql
    assert "CREATE DATABASE IF NOT EXISTS `magento_shop_fr`" in sql
    assert "MAX_USER_CONNECTIONS 40" in sql


@pytest.mark.parametrize("bad", ["short", "quote'inside" * 3, "back\\slash" * 3, "a b c d e f g h i j k l"])
def test_passwords_that_could_break_the_literal_are_refused(bad: str):
    with pytest.raises(ValueError, match="letters and digits"):
        render("shop-fr", bad, 10)


def test_bad_site_names_are_refused():
    for bad in ("Shop", "shop_fr", "-shop", "a" * 31, "shop`; DROP DATABASE x; --"):
        with pytest.raises(ValueError, match="DNS label"):
            render(bad, "A" * 32, 10)


def test_the_sql_never_drops_or_rewrites():
    sql = render("shop-fr", "A" * 32, 40).upper()
    statements = [s.strip() for s in sql.split(";") if s.strip() and not s.strip().startswith("--")]
    code = " ".join(line for s in statements for line in s.splitlines() if not line.strip().startswith("--"))
    for forbidden in ("DROP DATABASE", "DROP USER", "DROP TABLE", "TRUNCATE", "DELETE FROM", "REVOKE",
                      "CREATE OR REPLACE", "IDENTIFIED BY PASSWORD", "SET PASSWORD"):
        assert forbidden not in code
    assert "ALTER USER 'S_SHOP_FR'@'%' WITH MAX_USER_CONNECTIONS 40" in code
    assert "ALTER USER" in code and "IDENTIFIED" not in code.split("ALTER USER", 1)[1].split("GRANT")[0]


# ------------------------------------------------------------------------------------ real server


def test_sql_creates_schema_and_user_with_limit(db: MariaDB):
    for site in SITES:
        apply(db, site)
    assert db.query("SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'magento%' ORDER BY 1") == [
        ["magento_shop_de"], ["magento_shop_fr"],
    ]
    rows = db.query("SELECT user, JSON_VALUE(priv, '$.max_user_connections') FROM mysql.global_priv WHERE user LIKE 's\\_%' ORDER BY 1")
    assert rows == [["s_shop_de", "25"], ["s_shop_fr", "40"]]
    assert as_site(db, "shop-fr", "SELECT DATABASE()").returncode == 0


def test_second_run_changes_nothing(db: MariaDB):
    for site in SITES:
        apply(db, site)
    before = state(db)
    for site in SITES:
        apply(db, site)
    assert state(db) == before


def test_existing_data_survives_a_rerun(db: MariaDB):
    for site in SITES:
        apply(db, site)
    create = ("CREATE TABLE IF NOT EXISTS sales_order (entity_id INT PRIMARY KEY, grand_total DECIMAL(20,4)) ENGINE=InnoDB;"
              "REPLACE INTO sales_order VALUES (1, 10.5), (2, 99.99);")
    assert as_site(db, "shop-fr", f"USE magento_shop_fr; {create}").returncode == 0
    apply(db, "shop-fr")
    assert db.query("SELECT entity_id, grand_total FROM magento_shop_fr.sales_order ORDER BY 1") == [["1", "10.5000"], ["2", "99.9900"]]
    # A changed connection limit is applied without touching the password or the data.
    hash_before = db.query("SELECT JSON_VALUE(priv, '$.authentication_string') FROM mysql.global_priv WHERE user = 's_shop_fr'")
    assert db.run_sql(render("shop-fr", PASSWORDS["shop-fr"], 60)).returncode == 0
    assert db.query("SELECT JSON_VALUE(priv, '$.max_user_connections') FROM mysql.global_priv WHERE user = 's_shop_fr'") == [["60"]]
    assert db.query("SELECT JSON_VALUE(priv, '$.authentication_string') FROM mysql.global_priv WHERE user = 's_shop_fr'") == hash_before
    assert db.query("SELECT COUNT(*) FROM magento_shop_fr.sales_order") == [["2"]]
    apply(db, "shop-fr")


def test_a_rerun_with_another_password_keeps_the_existing_one(db: MariaDB):
    for site in SITES:
        apply(db, site)
    assert db.run_sql(render("shop-de", password(), SITES["shop-de"])).returncode == 0
    assert as_site(db, "shop-de", "SELECT 1").returncode == 0


def test_site_a_cannot_read_or_write_site_b(db: MariaDB):
    for site in SITES:
        apply(db, site)
    assert as_site(db, "shop-de", "CREATE TABLE IF NOT EXISTS magento_shop_de.quote (id INT PRIMARY KEY); "
                                  "REPLACE INTO magento_shop_de.quote VALUES (7);").returncode == 0
    denied = {
        "read": "SELECT * FROM magento_shop_de.quote",
        "write": "INSERT INTO magento_shop_de.quote VALUES (8)",
        "update": "UPDATE magento_shop_de.quote SET id = 9",
        "delete": "DELETE FROM magento_shop_de.quote",
        "create": "CREATE TABLE magento_shop_de.evil (id INT PRIMARY KEY)",
        "drop": "DROP TABLE magento_shop_de.quote",
        "drop schema": "DROP DATABASE magento_shop_de",
        "use": "USE magento_shop_de",
        "system tables": "SELECT * FROM mysql.global_priv",
        "grant": "GRANT SELECT ON magento_shop_fr.* TO 's_shop_de'@'%'",
    }
    for what, sql in denied.items():
        result = as_site(db, "shop-fr", sql)
        assert result.returncode != 0, f"site A could {what} site B: {sql}"
        assert "denied" in result.stderr.lower(), (what, result.stderr)
    visible = as_site(db, "shop-fr", "SHOW DATABASES").stdout.split()
    assert "magento_shop_de" not in visible and "magento_shop_fr" in visible
    assert db.query("SELECT id FROM magento_shop_de.quote") == [["7"]]


def test_grant_does_not_reach_a_look_alike_schema(db: MariaDB):
    apply(db, "shop-fr")
    db.query("CREATE DATABASE IF NOT EXISTS magentoXshopXfr; CREATE TABLE IF NOT EXISTS magentoXshopXfr.t (id INT PRIMARY KEY)")
    result = as_site(db, "shop-fr", "SELECT * FROM magentoXshopXfr.t")
    assert result.returncode != 0 and "denied" in result.stderr.lower()
    assert as_site(db, "shop-fr", "CREATE TABLE IF NOT EXISTS magento_shop_fr.t (id INT PRIMARY KEY)").returncode == 0


# ------------------------------------------------------------------------------------ the Job's script


ROOT_PASSWORD = password()


def job_script(db: MariaDB, tmp_path: Path, *, root_password: str, port: int | None = None, **env: str):
    """Run the tenancy Job's script as the Job runs it (bash -ec, the client on PATH), against the test server."""
    import os
    import subprocess

    from components.data.tenancy_sql import TENANCY_SCRIPT

    sql = tmp_path / "tenancy.sql"
    sql.write_text(render("shop-it", password(), 20))
    environment = {**os.environ, "SITE": "shop-it", "DB_HOST": "127.0.0.1", "DB_PORT": str(port or db.port),
                   "MYSQL_PWD": root_password, "SQL_FILE": str(sql), "HOME": str(tmp_path), **env}
    return subprocess.run(["bash", "-ec", TENANCY_SCRIPT], env=environment, capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture(scope="module")
def tcp_root(db: MariaDB) -> str:
    """A root login over TCP, as the operator's root user is for the Job (the socket root is the test's own)."""
    db.query(f"CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '{ROOT_PASSWORD}';"
             "GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;")
    return ROOT_PASSWORD


def test_the_job_script_applies_the_sql(db: MariaDB, tcp_root: str, tmp_path: Path):
    result = job_script(db, tmp_path, root_password=tcp_root)
    assert result.returncode == 0, result.stderr
    assert "tenancy of shop-it applied" in result.stdout
    assert db.query("SELECT schema_name FROM information_schema.schemata WHERE schema_name = 'magento_shop_it'") == [["magento_shop_it"]]
    again = job_script(db, tmp_path, root_password=tcp_root)
    assert again.returncode == 0, again.stderr


def test_the_job_script_fails_fast_on_a_wrong_root_password(db: MariaDB, tcp_root: str, tmp_path: Path):
    result = job_script(db, tmp_path, root_password="wrong" + tcp_root, WAIT_SECONDS="5")
    assert result.returncode == 1
    assert "root cannot log in" in result.stderr and "waiting for" not in result.stdout


def test_the_job_script_waits_then_fails_when_nothing_answers(db: MariaDB, tmp_path: Path):
    from tests.servers import free_port

    result = job_script(db, tmp_path, root_password="x", port=free_port(), WAIT_ATTEMPTS="3", WAIT_SECONDS="0")
    assert result.returncode != 0
    assert result.stdout.count("waiting for") == 3
