"""A store's database tenancy as SQL: the names, the rendered file and the Job that runs it.

`sql/tenancy.sql` is the SQL, a file of its own; `render()` fills its placeholders for one site. The
names are derived so that no two sites can collide and no grant can reach past its schema:

* schema `magento_<site>` (`-` becomes `_`; site names are DNS labels of at most 30 characters, so
  the result is a valid identifier of at most 38 characters);
* user `s_<site>` (at most 32 characters, MySQL's limit for user names; the prefix keeps a site
  named `root` or `monitor` away from the operator's system users);
* the grant names the schema with `_` escaped (an unescaped `_` in a GRANT matches any character).

The rendered SQL holds the site's password, so it travels as a Secret, never a ConfigMap.
"""

from __future__ import annotations

import re
from pathlib import Path
from string import Template

SQL_FILE = Path(__file__).parent / "sql" / "tenancy.sql"

_SITE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,28}[a-z0-9])?$")
_PASSWORD = re.compile(r"^[A-Za-z0-9]{16,128}$")


def _identifier(site: str) -> str:
    if not _SITE.match(site):
        raise ValueError(f"site name {site!r} is not a DNS label of at most 30 characters")
    return site.replace("-", "_")


def database_name(site: str) -> str:
    return f"magento_{_identifier(site)}"


def user_name(site: str) -> str:
    return f"s_{_identifier(site)}"


def grant_pattern(database: str) -> str:
    """The schema as a GRANT names it: `_` and `%` escaped so that they match themselves only."""
    return database.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%")


def render(site: str, password: str, max_connections: int) -> str:
    """The tenancy SQL of one site. The password comes from pulumi-random (letters and digits only,
    which the check below holds to: nothing in it can end the quoted literal)."""
    if not _PASSWORD.match(password):
        raise ValueError("the tenancy password must be 16-128 letters and digits")
    if not 1 <= max_connections <= 100_000:
        raise ValueError(f"max_connections {max_connections} is outside 1..100000")
    database = database_name(site)
    return Template(SQL_FILE.read_text()).substitute(
        database=database,
        grant_database=grant_pattern(database),
        user=user_name(site),
        password=password,
        max_connections=max_connections,
    )
