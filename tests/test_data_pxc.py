"""Percona XtraDB Cluster under mocks (dev: one server, prod: three failure domains): members and placement,
my.cnf sized from the limit, backups and PITR to the mysql bucket, the restore resource, system users and
per-site tenancy Jobs, every custom resource schema-valid."""

from __future__ import annotations

import copy
import shutil
import subprocess

import pytest

from components.data import mysql_config
from components.data.mysql_config import GIB, MIB, my_cnf, sizing
from components.data.tenancy_sql import TENANCY_SCRIPT, database_name, user_name
from offline.engine import Recording
from offline.schemas import validate_objects
from tests.layer_helpers import chart, comes_after, in_layer, kind, problems, schema_problems, stack_values


def cluster(rec: Recording) -> dict:
    (cr,) = kind(rec, "PerconaXtraDBCluster")
    return cr.inputs


def cnf(rec: Recording) -> dict[str, str]:
    text = cluster(rec)["spec"]["pxc"]["configuration"]
    lines = text.splitlines()
    assert lines[0] == "[mysqld]"
    return dict(line.split("=", 1) for line in lines[1:])


# ------------------------------------------------------------------------------------ sizing


def test_buffer_pool_is_the_configured_share_rounded_down_to_whole_chunks():
    size = sizing(8 * GIB, 0.6, 200)
    assert size.instances == 4
    assert size.buffer_pool == 4608 * MIB  # 0.6 x 8 GiB = 4915 MiB, down to 9 x (4 x 128 MiB)
    assert size.buffer_pool % (128 * MIB * size.instances) == 0
    assert size.buffer_pool <= 0.6 * 8 * GIB
    assert size.max_connections == 200 + mysql_config.RESERVED_CONNECTIONS
    assert size.check() is None


def test_sizing_that_does_not_fit_says_what_to_change():
    size = sizing(2 * GIB, 0.6, 400)
    message = size.check()
    assert message is not None and "raise memoryLimit" in message and "430 connections" in message


def test_small_limits_keep_one_instance():
    size = sizing(1 * GIB, 0.5, 10)
    assert size.instances == 1 and size.buffer_pool == 512 * MIB and size.redo_log_capacity == 512 * MIB


def test_magento_settings_are_in_my_cnf():
    text = my_cnf(sizing(8 * GIB, 0.6, 100), "PERMISSIVE")
    assert "restrict_fk_on_non_standard_key=OFF" in text
    assert "pxc_strict_mode=PERMISSIVE" in text
    assert "log_bin_trust_function_creators=1" in text


def test_prod_my_cnf_follows_the_memory_limit(prod: Recording):
    settings = cnf(prod)
    limit = 8 * GIB  # Pulumi.prod.yaml data.mysql.resources.memoryLimit
    assert int(settings["innodb_buffer_pool_size"]) == sizing(limit, 0.6, 0).buffer_pool
    assert int(settings["innodb_buffer_pool_size"]) <= 0.6 * limit
    assert settings["restrict_fk_on_non_standard_key"] == "OFF"
    assert settings["pxc_strict_mode"] == "PERMISSIVE"
    assert cluster(prod)["spec"]["pxc"]["resources"]["limits"]["memory"] == "8Gi"


def test_max_connections_come_from_the_sites(prod: Recording, dev: Recording):
    from components.config import validate
    from components.sizing import site_database_connections

    for rec, stack in ((prod, "prod"), (dev, "dev")):
        config = validate(stack_values(stack))
        expected = sum(site_database_connections(site) for site in config.sites) + mysql_config.RESERVED_CONNECTIONS
        assert int(cnf(rec)["max_connections"]) == expected


# ------------------------------------------------------------------------------------ members and placement


def test_prod_runs_two_data_members_and_garbd_on_the_witness(prod: Recording):
    spec = cluster(prod)["spec"]
    assert spec["pxc"]["size"] == 2 and spec["unsafeFlags"] == {"pxcSize": True, "proxySize": False}
    assert spec["pxc"]["affinity"] == {"antiAffinityTopologyKey": "topology.kubernetes.io/zone"}
    assert "tolerations" not in spec["pxc"]  # no data member on the witness (no pool, 4Gi free)
    assert spec["pxc"]["podDisruptionBudget"] == {"maxUnavailable": 1}
    assert spec["haproxy"]["size"] == 2 and "tolerations" not in spec["haproxy"]
    (garbd,) = [d for d in kind(prod, "Deployment") if d.inputs["metadata"]["name"] == "mysql-garbd"]
    pod = garbd.inputs["spec"]["template"]["spec"]
    assert garbd.inputs["spec"]["replicas"] == 1 and pod["nodeSelector"] == {"magento.io/witness": "true"}
    assert pod["tolerations"] == [{"key": "magento.io/witness", "operator": "Equal", "value": "true", "effect": "NoSchedule"}]
    (container,) = pod["containers"]
    assert container["image"] == "docker.io/percona/percona-xtrabackup:8.4.0-5.1"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert {v["name"]: v.get("secret", {}).get("secretName") for v in pod["volumes"]}["ssl-internal"] == "mysql-ssl-internal"


def test_garbd_and_the_members_talk_on_4567_only(prod: Recording):
    policy = prod.named("mysql-arbitrator-policy").inputs["spec"]
    members = {"app.kubernetes.io/instance": "mysql", "app.kubernetes.io/component": "pxc"}
    port = [{"ports": [{"port": "4567", "protocol": "TCP"}]}]
    assert policy["ingress"] == [{"fromEndpoints": [{"matchLabels": members}], "toPorts": port},
                                 {"fromEntities": ["host"], "toPorts": port}]
    assert policy["egress"] == [{"toEndpoints": [{"matchLabels": members}], "toPorts": port}]
    # the baseline (same namespace: every port) leaves garbd out, or Cilium would add its allows to garbd's
    baseline = prod.named("mysql-isolation").inputs["spec"]["endpointSelector"]
    assert baseline == {"matchExpressions": [{"key": "app.kubernetes.io/name", "operator": "NotIn", "values": ["garbd"]}]}


def test_three_storage_domains_run_three_members_and_no_garbd(run):
    values = stack_values("prod")
    witness = values["hosts"][2]
    witness["roles"] = ["control-plane", "worker"]
    witness["cpus"], witness["memory"] = 32, "125Gi"
    witness["zfs"] = copy.deepcopy(values["hosts"][0]["zfs"])
    rec = run(values, stack="prod")
    spec = cluster(rec)["spec"]
    assert spec["pxc"]["size"] == 3 and "unsafeFlags" not in spec
    assert not [d for d in kind(rec, "Deployment") if d.inputs["metadata"]["name"] == "mysql-garbd"]
    assert rec.named("mysql-isolation").inputs["spec"]["endpointSelector"] == {}


def test_dev_runs_one_member_with_the_unsafe_flag(dev: Recording):
    spec = cluster(dev)["spec"]
    assert spec["pxc"]["size"] == 1 and spec["haproxy"]["size"] == 1
    assert spec["unsafeFlags"] == {"pxcSize": True, "proxySize": True}
    assert spec["pxc"]["affinity"] == {"antiAffinityTopologyKey": "none"}


def test_haproxy_is_the_single_writer(stack_recording: Recording):
    spec = cluster(stack_recording)["spec"]
    assert spec["haproxy"]["enabled"] is True and spec["proxysql"] == {"enabled": False}
    assert spec["haproxy"]["replicasServiceEnabled"] is False
    assert all(r["resources"]["requests"] and r["resources"]["limits"] for r in (spec["pxc"], spec["haproxy"]))


def test_images_are_pinned_and_updates_are_ours(stack_recording: Recording):
    spec = cluster(stack_recording)["spec"]
    assert spec["pxc"]["image"] == "docker.io/percona/percona-xtradb-cluster:8.4.8-8.1"
    assert spec["haproxy"]["image"] == "docker.io/percona/haproxy:2.8.18-1"
    assert spec["upgradeOptions"]["apply"] == "disabled"
    assert spec["crVersion"] == "1.20.0"
    assert spec["pxc"]["volumeSpec"]["persistentVolumeClaim"]["storageClassName"] == "zfs-db"


# ------------------------------------------------------------------------------------ backups and restore


def test_prod_backs_up_daily_with_pitr_to_the_mysql_bucket(prod: Recording):
    backup = cluster(prod)["spec"]["backup"]
    (schedule,) = backup["schedule"]
    assert schedule["schedule"] == "30 2 * * *"
    assert schedule["retention"] == {"type": "count", "count": 35, "deleteFromStorage": True}  # backup.retentionDays
    full, binlogs = backup["storages"][schedule["storageName"]], backup["storages"][backup["pitr"]["storageName"]]
    assert backup["pitr"]["enabled"] is True and backup["pitr"]["timeBetweenUploads"] == 60
    for storage, prefix in ((full, "prod/full"), (binlogs, "prod/binlogs")):
        s3 = storage["s3"]
        assert s3["bucket"] == "magento-prod-mysql" and s3["prefix"] == prefix
        assert s3["endpointUrl"] == "https://s3.gra.io.cloud.ovh.net" and s3["forcePathStyle"] is True
        assert s3["credentialsSecret"] == "mysql-backup-s3"
    assert backup["image"] == "docker.io/percona/percona-xtrabackup:8.4.0-5.1"
    secret = prod.named("mysql-backup-s3").inputs
    assert set(secret["stringData"]) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}


def test_dev_without_a_backup_target_has_no_backup_section(dev: Recording):
    assert "backup" not in cluster(dev)["spec"]


def test_retention_and_schedule_come_from_config(run):
    values = stack_values("prod")
    values["data"]["mysql"]["backup"] = {"time": "23:05", "keepDays": 10, "binlogUploadSeconds": 300}
    backup = cluster(run(values, stack="prod"))["spec"]["backup"]
    assert backup["schedule"][0]["schedule"] == "5 23 * * *"
    assert backup["schedule"][0]["retention"]["count"] == 10
    assert backup["pitr"]["timeBetweenUploads"] == 300


def test_restore_is_a_resource_after_the_cluster(run):
    values = stack_values("prod")
    values["data"]["mysql"]["restore"] = {"name": "drill-2026-12", "backupName": "cron-mysql-s3-full-2026121", "pointInTime": "2026-12-01 10:15:00"}
    rec = run(values, stack="prod")
    (restore,) = kind(rec, "PerconaXtraDBClusterRestore")
    spec = restore.inputs["spec"]
    assert spec["pxcCluster"] == "mysql" and spec["backupName"] == "cron-mysql-s3-full-2026121"
    assert spec["pitr"] == {"type": "date", "date": "2026-12-01 10:15:00", "backupSource": {"storageName": "s3-binlogs"}}
    assert comes_after(rec, restore, kind(rec, "PerconaXtraDBCluster")[0])
    assert schema_problems([restore]) == []


def test_restore_from_a_destination_carries_the_endpoint(run):
    values = stack_values("prod")
    values["data"]["mysql"]["restore"] = {"name": "dr", "backupDestination": "s3://magento-prod-mysql/prod/full/backup-1"}
    (restore,) = kind(run(values, stack="prod"), "PerconaXtraDBClusterRestore")
    source = restore.inputs["spec"]["backupSource"]
    assert source["destination"] == "s3://magento-prod-mysql/prod/full/backup-1"
    assert source["s3"] == {"credentialsSecret": "mysql-backup-s3", "endpointUrl": "https://s3.gra.io.cloud.ovh.net", "region": "gra"}


@pytest.mark.parametrize(("restore", "key"), [
    ({"name": "r"}, "data.mysql.restore"),
    ({"name": "r", "backupName": "b", "backupDestination": "s3://x/y"}, "data.mysql.restore"),
    ({"name": "r", "backupName": "b", "pointInTime": "yesterday"}, "data.mysql.restore.pointInTime"),
])
def test_bad_restores_are_rejected(restore: dict, key: str):
    values = stack_values("prod")
    values["data"]["mysql"]["restore"] = restore
    assert key in problems(values)


def test_bad_mysql_settings_are_rejected():
    for field, value, key in (
        ("bufferPoolShare", 0.9, "data.mysql.bufferPoolShare"),
        ("strictMode", "DISABLED", "data.mysql.strictMode"),
    ):
        values = stack_values("prod")
        values["data"]["mysql"][field] = value
        assert key in problems(values)
    values = stack_values("prod")
    values["data"]["mysql"]["backup"] = {"time": "25:00"}
    assert "data.mysql.backup.time" in problems(values)


# ------------------------------------------------------------------------------------ users and tenancy


def test_system_users_are_ours_and_random(stack_recording: Recording):
    secret = stack_recording.named("mysql-system-users").inputs
    assert cluster(stack_recording)["spec"]["secretsName"] == secret["metadata"]["name"] == "mysql-system-users"
    values = secret["stringData"]
    assert set(values) == {"root", "xtrabackup", "monitor", "operator", "replication", "proxyadmin"}
    assert len(set(values.values())) == len(values)
    assert all(len(v) == 32 for v in values.values())


def test_each_site_gets_a_tenancy_job_with_its_own_sql(prod: Recording):
    jobs = {j.inputs["metadata"]["name"]: j for j in kind(prod, "Job") if j.inputs["metadata"]["namespace"] == "mysql"}
    assert set(jobs) == {"tenancy-shop-fr", "tenancy-shop-de"}
    sqls = {}
    for site in ("shop-fr", "shop-de"):
        job = jobs[f"tenancy-{site}"].inputs
        pod = job["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        env = {e["name"]: e for e in container["env"]}
        assert env["MYSQL_PWD"]["valueFrom"]["secretKeyRef"] == {"name": "mysql-system-users", "key": "root"}
        assert env["DB_HOST"]["value"] == "mysql-haproxy.mysql.svc.cluster.local"
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        sql = prod.named(f"{site}-mysql-tenancy-sql").inputs["stringData"]["tenancy.sql"]
        assert f"CREATE DATABASE IF NOT EXISTS `{database_name(site)}`" in sql
        assert f"CREATE USER IF NOT EXISTS '{user_name(site)}'@'%'" in sql
        sqls[site] = sql
        assert comes_after(prod, jobs[f"tenancy-{site}"], kind(prod, "PerconaXtraDBCluster")[0])
    assert sqls["shop-fr"] != sqls["shop-de"]


def test_tenancy_script_passes_shellcheck():
    shellcheck = shutil.which("shellcheck") or str(__import__("pathlib").Path(__import__("sys").executable).parent / "shellcheck")
    result = subprocess.run([shellcheck, "-s", "bash", "-"], input=TENANCY_SCRIPT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout


def test_the_writer_namespace_admits_the_stores_only(prod: Recording):
    policy = prod.named("mysql-isolation").inputs
    peers = [p.get("matchLabels", {}).get("k8s:io.kubernetes.pod.namespace") for p in policy["spec"]["ingress"][0]["fromEndpoints"]]
    assert {"site-shop-fr", "site-shop-de"} <= set(peers)


# ------------------------------------------------------------------------------------ rendering and schemas


def test_operator_chart_is_pinned_and_namespace_scoped(stack_recording: Recording):
    operator = chart(stack_recording, "mysql-operator").inputs
    assert operator["version"] == "1.20.0" and operator["namespace"] == "mysql"
    assert operator["values"]["watchAllNamespaces"] is False and operator["values"]["disableTelemetry"] is True


def test_cluster_comes_after_the_operator(stack_recording: Recording):
    (cr,) = kind(stack_recording, "PerconaXtraDBCluster")
    assert comes_after(stack_recording, cr, chart(stack_recording, "mysql-operator"))


def test_every_data_object_is_schema_valid(stack_recording: Recording):
    assert schema_problems(in_layer(stack_recording, "data")) == []


def test_the_schema_check_really_covers_the_cluster(prod: Recording):
    bad = copy.deepcopy(cluster(prod))
    bad["spec"]["pxc"]["sizee"] = 3
    found, _ = validate_objects([bad])
    assert found, "the PerconaXtraDBCluster schema must reject an unknown field"


def test_a_memory_limit_too_small_for_the_stores_is_rejected():
    values = stack_values("prod")
    values["data"]["mysql"]["resources"] = {"cpuRequest": "1", "memoryRequest": "1Gi", "cpuLimit": "1", "memoryLimit": "1Gi"}
    found = problems(values)
    assert "data.mysql.resources.memoryLimit" in found
    assert "raise memoryLimit" in found["data.mysql.resources.memoryLimit"]


def test_a_restore_without_a_backup_target_is_rejected():
    values = stack_values("dev")
    values["data"]["mysql"]["restore"] = {"name": "r", "backupName": "b"}
    assert "data.mysql.restore" in problems(values)


def test_a_changed_connection_limit_reruns_the_job_without_leaking_the_password():
    from components.data.tenancy_sql import fingerprint

    assert fingerprint("shop-fr", 42) == fingerprint("shop-fr", 42)
    assert fingerprint("shop-fr", 42) != fingerprint("shop-fr", 60)
    assert fingerprint("shop-fr", 42) != fingerprint("shop-de", 42)


def test_sites_get_distinct_database_credentials(prod: Recording):
    sqls = {site: prod.named(f"{site}-mysql-tenancy-sql").inputs["stringData"]["tenancy.sql"] for site in ("shop-fr", "shop-de")}
    passwords = {site: sql.split("IDENTIFIED BY '", 1)[1].split("'", 1)[0] for site, sql in sqls.items()}
    assert len(set(passwords.values())) == 2 and all(len(p) == 32 for p in passwords.values())
    system = set(prod.named("mysql-system-users").inputs["stringData"].values())
    assert not system & set(passwords.values())


def test_every_site_gets_one_complete_tenancy_and_no_credential_is_shared(prod: Recording):
    """The contract the sites layer reads (components/data/tenancy.py), as the stack output a site stack reads."""
    from components.data.tenancy import public_fields

    output = prod.stack_outputs["siteTenancy"]
    assert output["secret"] is True  # the whole output: it carries every store's passwords
    tenancy = output["value"]
    assert set(tenancy) == {"shop-fr", "shop-de"}
    for site, value in tenancy.items():
        assert value["database"]["name"] == database_name(site) and value["search"]["index_prefix"] == site
        assert value["database"]["host"] == "mysql-haproxy.mysql.svc.cluster.local"
        assert value["queue"]["vhost"] and set(value["valkey"])
        # The store's own media key (an OVH S3 user limited to its prefix), never the platform's (it reaches every bucket).
        assert value["media"]["prefix"] == f"prod/sites/{site}/" and value["media"]["bucket"] == "magento-prod-media"
        assert value["media"]["access_key_id"] != prod.named("object-storage", "pulumi:providers:aws").inputs["accessKey"]
        assert "password" not in str(public_fields(value))
    passwords = [t[part]["credential"]["password"] for t in tenancy.values() for part in ("database", "search", "queue")]
    passwords += [store["credential"]["password"] for t in tenancy.values() for store in t["valkey"].values()]
    passwords += [t["media"][key] for t in tenancy.values() for key in ("access_key_id", "secret_access_key")]
    assert len(passwords) == len(set(passwords)) and all(passwords)


def test_dev_tenancy_has_no_media_bucket(dev: Recording):
    (value,) = dev.stack_outputs["siteTenancy"]["value"].values()
    assert value["media"] is None and value["database"]["name"] == "magento_demo"
