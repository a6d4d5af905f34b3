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

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from string import Template

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube

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


# ------------------------------------------------------------------------------------------ the Job

TENANCY_SCRIPT = """\
sql="${SQL_FILE:-/sql/tenancy.sql}"
for attempt in $(seq 1 "${WAIT_ATTEMPTS:-120}"); do
  if out="$(mysql --host="$DB_HOST" --port="$DB_PORT" --user=root --execute='SELECT 1' 2>&1 >/dev/null)"; then break; fi
  case "$out" in
    *"Access denied"*) echo "root cannot log in to $DB_HOST:$DB_PORT: $out" >&2; exit 1 ;;
  esac
  echo "waiting for $DB_HOST:$DB_PORT (attempt $attempt)"; sleep "${WAIT_SECONDS:-10}"
done
mysql --host="$DB_HOST" --port="$DB_PORT" --user=root --batch < "$sql"
echo "tenancy of $SITE applied"
"""


def fingerprint(site: str, max_connections: int) -> str:
    """What the Job applies, without the password: a change re-runs the Job (its template changes)."""
    return hashlib.sha256(render(site, "P" * 32, max_connections).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class TenancyJobArgs:
    site: str
    password: pulumi.Output[str]  # secret
    max_connections: int
    namespace: str
    host: str
    port: int
    root_secret: str  # the cluster's system users Secret (key `root`)
    image: str


def tenancy_job(name: str, args: TenancyJobArgs, opts: pulumi.ResourceOptions) -> k8s.batch.v1.Job:
    """The Secret holding the rendered SQL and the Job that runs it through the writer as root.

    The Job waits (up to 20 minutes) for the cluster to answer, so a first `pulumi up` that creates the
    cluster and the tenancies together converges; Pulumi waits for it to complete, so a store's workloads
    never start before their schema and user exist.
    """
    labels = {**kube.labels("mysql-tenancy"), "magento.io/site": args.site}
    sql = k8s.core.v1.Secret(
        f"{name}-sql",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=f"tenancy-sql-{args.site}", namespace=args.namespace, labels=labels),
        type="Opaque",
        string_data={"tenancy.sql": pulumi.Output.secret(args.password).apply(lambda pw: render(args.site, pw, args.max_connections))},
        opts=opts,
    )
    restricted = k8s.core.v1.SecurityContextArgs(
        allow_privilege_escalation=False, read_only_root_filesystem=True, run_as_non_root=True,
        capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
    )
    container = k8s.core.v1.ContainerArgs(
        name="tenancy",
        image=args.image,
        command=["/bin/bash", "-ec", TENANCY_SCRIPT],
        env=[
            k8s.core.v1.EnvVarArgs(name="SITE", value=args.site),
            k8s.core.v1.EnvVarArgs(name="DB_HOST", value=args.host),
            k8s.core.v1.EnvVarArgs(name="DB_PORT", value=str(args.port)),
            k8s.core.v1.EnvVarArgs(name="HOME", value="/tmp"),
            k8s.core.v1.EnvVarArgs(name="MYSQL_PWD", value_from=k8s.core.v1.EnvVarSourceArgs(
                secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=args.root_secret, key="root"))),
        ],
        resources=k8s.core.v1.ResourceRequirementsArgs(
            requests={"cpu": "50m", "memory": "64Mi"}, limits={"cpu": "200m", "memory": "128Mi"}
        ),
        security_context=restricted,
        volume_mounts=[
            k8s.core.v1.VolumeMountArgs(name="sql", mount_path="/sql", read_only=True),
            k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
        ],
    )
    return k8s.batch.v1.Job(
        name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=f"tenancy-{args.site}", namespace=args.namespace, labels=labels),
        spec=k8s.batch.v1.JobSpecArgs(
            backoff_limit=6,
            active_deadline_seconds=1800,
            template=k8s.core.v1.PodTemplateSpecArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    labels=labels, annotations={"magento.io/tenancy-sql": fingerprint(args.site, args.max_connections)}
                ),
                spec=k8s.core.v1.PodSpecArgs(
                    restart_policy="Never",
                    automount_service_account_token=False,
                    security_context=k8s.core.v1.PodSecurityContextArgs(
                        run_as_non_root=True, run_as_user=1001, run_as_group=1001,
                        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
                    ),
                    containers=[container],
                    volumes=[
                        k8s.core.v1.VolumeArgs(name="sql", secret=k8s.core.v1.SecretVolumeSourceArgs(secret_name=f"tenancy-sql-{args.site}")),
                        k8s.core.v1.VolumeArgs(name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="16Mi")),
                    ],
                ),
            ),
        ),
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(
            depends_on=[sql], delete_before_replace=True,
            custom_timeouts=pulumi.CustomTimeouts(create="35m", update="35m"),
        )),
    )
