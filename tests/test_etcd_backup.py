"""Scheduled etcd snapshots: the CronJob as the program registers it, and its two scripts run as the pod runs
them (`/bin/sh -c <script>` with the container's environment; bash is /bin/sh in both images) against stand-ins
for etcdctl, etcdutl and the AWS CLI. The snapshot is verified before it is uploaded, is never world-readable,
lands where the backup verifier looks, and no credential is printed."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from components import versions
from components.backups import BucketTarget
from components.backups.streams import stream
from components.platform import etcd_backup
from tests.hosts_sandbox import stack_config
from tests.layer_helpers import stack_values

SECRET = "etcd-backup-secret-key-never-printed"
BASH = shutil.which("bash") or "/bin/bash"

ETCDCTL = """#!/bin/bash
# stand-in: `etcdctl ... snapshot save FILE` writes a database file with the mode the umask gives it
echo "etcdctl $*" >>"$CALLS"
[ -z "${ETCDCTL_FAIL:-}" ] || { echo "context deadline exceeded" >&2; exit 1; }
for last; do :; done
printf 'bolt-database-%s' "$(/usr/bin/seq 1 2000 | /usr/bin/tr -d '\\n')" >"$last"
echo "Snapshot saved at $last"
"""
ETCDUTL = """#!/bin/bash
echo "etcdutl $*" >>"$CALLS"
[ -z "${ETCDUTL_FAIL:-}" ] || { echo "snapshot file integrity check failed" >&2; exit 1; }
printf '{"hash":2745178133,"revision":4242,"totalKey":%s,"totalSize":%s,"version":"3.6.0"}\\n' "${TOTAL_KEYS:-1234}" "$(/usr/bin/wc -c <"$3")"
"""
AWS = """#!/bin/bash
# stand-in for the AWS CLI: `s3 cp FILE s3://B/K` stores the file under $FAKE_S3/B/K; `s3api head-object` prints
# its ContentLength (or $SHORT_BY bytes less, as a truncated upload would).
echo "aws $*" >>"$CALLS"
[ -n "$AWS_ACCESS_KEY_ID" ] && [ -n "$AWS_SECRET_ACCESS_KEY" ] || { echo "no credentials" >&2; exit 255; }
args=("$@")
[ "${args[0]}" = "--endpoint-url" ] || { echo "no endpoint" >&2; exit 2; }
case "${args[2]} ${args[3]}" in
  "s3 cp") src="${args[6]}" dst="${args[7]#s3://}"; mkdir -p "$FAKE_S3/$(dirname "$dst")"; cp "$src" "$FAKE_S3/$dst" ;;
  "s3api head-object") echo $(( $(wc -c <"$FAKE_S3/${args[5]}/${args[7]}") - ${SHORT_BY:-0} )) ;;
  *) echo "not understood: $*" >&2; exit 2 ;;
esac
"""


def target() -> BucketTarget:
    return BucketTarget(bucket="magento-prod-velero", endpoint="https://s3.gra.io.cloud.ovh.net/", region="gra",
                        access_key_id=None, secret_access_key=None)  # type: ignore[arg-type]


@pytest.fixture
def pod():
    spec = etcd_backup.cronjob_spec(stack_config("prod"), target())
    return spec["jobTemplate"]["spec"]["template"]["spec"]


class Pod:
    """The two containers run one after the other in a directory standing in for the pod's volumes."""

    def __init__(self, base: Path, spec: dict):
        self.spec, self.base = spec, base
        self.s3, self.snapshot, self.pki = base / "s3", base / "snapshot", base / "pki"
        # What each image has on its PATH: the etcd image only etcd's tools and cp (kubernetes/kubernetes
        # cluster/images/etcd/Dockerfile); the AWS CLI image (Amazon Linux) the aws command and coreutils.
        self.paths = {"save": base / "etcd-image", "upload": base / "aws-cli-image"}
        for directory in (self.s3, self.snapshot, self.pki, *self.paths.values()):
            directory.mkdir()
        self.calls = base / "calls"
        for image, name, text in (("save", "etcdctl", ETCDCTL), ("save", "etcdutl", ETCDUTL), ("upload", "aws", AWS)):
            (self.paths[image] / name).write_text(text)
            (self.paths[image] / name).chmod(0o755)
        (self.paths["save"] / "cp").symlink_to(shutil.which("cp") or "/bin/cp")

    def env(self, container: dict, **extra: str) -> dict[str, str]:
        path = str(self.paths["save"]) if container["name"] == "save" else f"{self.paths['upload']}:/usr/bin:/bin"
        env = {"PATH": path, "CALLS": str(self.calls), "FAKE_S3": str(self.s3), **extra}
        for item in container["env"]:
            if "value" in item:
                env[item["name"]] = item["value"]
            else:  # secretKeyRef of Secret etcd-backup-s3
                assert item["valueFrom"]["secretKeyRef"]["name"] == etcd_backup.CREDENTIALS_SECRET
                env[item["name"]] = SECRET if item["name"] == "AWS_SECRET_ACCESS_KEY" else "key-id"
        # the volumes: the emptyDir and the hostPath of the etcd certificates
        env["SNAPSHOT_DIR"], env["ETCD_PKI"] = str(self.snapshot), str(self.pki)
        return env

    def run(self, container: dict, **extra: str) -> subprocess.CompletedProcess[str]:
        command = container["command"]
        assert command[:2] == ["/bin/sh", "-c"]
        return subprocess.run(["sh", "-c", command[2]], executable=BASH, env=self.env(container, **extra),
                              capture_output=True, text=True, timeout=60, check=False)

    def job(self, **extra: str) -> list[subprocess.CompletedProcess[str]]:
        """Init container, then (only when it succeeded, as the kubelet does) the upload container."""
        save = self.run(self.spec["initContainers"][0], **extra)
        if save.returncode != 0:
            return [save]
        return [save, self.run(self.spec["containers"][0], **extra)]

    def uploaded(self) -> list[str]:
        return sorted(str(p.relative_to(self.s3)) for p in self.s3.rglob("*") if p.is_file())


def test_a_snapshot_is_saved_verified_and_uploaded_where_the_verifier_looks(tmp_path, pod):
    run = Pod(tmp_path, pod)
    save, upload = run.job()
    assert save.returncode == 0, save.stderr
    assert upload.returncode == 0, upload.stderr
    (key,) = run.uploaded()
    prefix = stream("etcd").prefix("prod")
    assert key.startswith(f"magento-prod-velero/{prefix}etcd-") and key.endswith("Z.db")
    assert prefix == "etcd-snapshots/prod/"  # beside Velero's prod/, never inside it
    calls = run.calls.read_text().splitlines()
    assert calls[0].startswith("etcdctl --endpoints=https://127.0.0.1:2379 ")
    assert f"--key={run.pki}/healthcheck-client.key" in calls[0] and calls[0].endswith(f"snapshot save {run.snapshot}/etcd.db")
    assert calls[1] == f"etcdutl snapshot status {run.snapshot}/etcd.db --write-out=json"
    assert calls[2].startswith("aws --endpoint-url https://s3.gra.io.cloud.ovh.net s3 cp ")
    # the snapshot holds every Secret: only its owner (root in the pod) may read it
    mode = stat.S_IMODE(os.stat(run.snapshot / "etcd.db").st_mode)
    assert mode == 0o600, oct(mode)
    assert "uploaded s3://magento-prod-velero/etcd-snapshots/prod/etcd-" in upload.stdout
    assert SECRET not in save.stdout + save.stderr + upload.stdout + upload.stderr + run.calls.read_text()


@pytest.mark.parametrize(("failure", "message"), [
    ({"ETCDCTL_FAIL": "1"}, "context deadline exceeded"),
    ({"ETCDUTL_FAIL": "1"}, "etcdutl cannot read the snapshot: not uploaded"),
    ({"TOTAL_KEYS": "0"}, "the snapshot holds no keys: not uploaded"),
])
def test_a_snapshot_that_fails_or_does_not_verify_is_never_uploaded(tmp_path, pod, failure, message):
    run = Pod(tmp_path, pod)
    results = run.job(**failure)
    assert len(results) == 1 and results[0].returncode != 0
    assert message in results[0].stderr
    assert run.uploaded() == []


def test_an_upload_the_bucket_holds_short_fails_the_job(tmp_path, pod):
    run = Pod(tmp_path, pod)
    save, upload = run.job(SHORT_BY="10")
    assert save.returncode == 0 and upload.returncode != 0
    assert "bytes, the snapshot" in upload.stderr


def test_the_upload_refuses_a_snapshot_that_was_not_verified(tmp_path, pod):
    run = Pod(tmp_path, pod)
    (run.snapshot / "etcd.db").write_text("unverified")
    result = run.run(pod["containers"][0])
    assert result.returncode != 0 and "no verified snapshot to upload" in result.stderr
    assert run.uploaded() == []


def test_both_scripts_are_shellcheck_clean():
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is missing: it comes with Debian's packages in .ci/run"
    for name in ("save.sh", "upload.sh"):
        done = subprocess.run([shellcheck, str(etcd_backup.SCRIPTS / name)], capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stdout


def test_the_pod_runs_on_a_control_plane_with_the_etcd_image_and_read_only_certificates(pod):
    assert pod["hostNetwork"] is True and pod["restartPolicy"] == "Never"
    assert pod["nodeSelector"] == {"node-role.kubernetes.io/control-plane": ""}
    assert {t["key"] for t in pod["tolerations"]} == {"node-role.kubernetes.io/control-plane", "magento.io/witness"}
    (save,), (upload,) = pod["initContainers"], pod["containers"]
    assert save["image"] == "registry.k8s.io/etcd:3.6.9-0" == versions.image("etcd").ref
    assert upload["image"] == versions.image("aws-cli").ref
    certs = next(v for v in pod["volumes"] if v["name"] == "etcd-certs")
    assert certs["hostPath"] == {"path": "/etc/kubernetes/pki/etcd", "type": "Directory"}
    assert {"name": "etcd-certs", "mountPath": "/etc/kubernetes/pki/etcd", "readOnly": True} in save["volumeMounts"]
    assert not any(m["name"] == "etcd-certs" for m in upload["volumeMounts"])  # the uploader never sees the keys
    assert pod["automountServiceAccountToken"] is False
    for container in (save, upload):
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}


def test_schedule_and_retention_come_from_the_config():
    values = stack_values("prod")
    values["backup"]["etcd"] = {"schedule": "15 */4 * * *", "retentionDays": 10}
    from components.config import validate

    config = validate(values)
    spec = etcd_backup.cronjob_spec(config, target())
    assert spec["schedule"] == "15 */4 * * *" and spec["concurrencyPolicy"] == "Forbid"
    assert config.backup.etcd.rpo_hours == 5  # every 4 hours, plus an hour for the run


def test_prod_registers_the_cronjob_its_secret_and_a_privileged_namespace(prod):
    (cronjob,) = [r for r in prod.of_type("kubernetes:batch/v1:CronJob") if r.inputs["metadata"]["name"] == "etcd-backup"]
    assert cronjob.inputs["metadata"]["namespace"] == "etcd-backup"
    assert cronjob.inputs["spec"]["schedule"] == "0 */6 * * *"
    secret = prod.named("etcd-backup-s3", "kubernetes:core/v1:Secret")
    assert secret.is_secret("stringData")
    assert set(secret.inputs["stringData"]) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    namespace = prod.named("etcd-backup-namespace", "kubernetes:core/v1:Namespace")
    assert namespace.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    env = {e["name"]: e for e in cronjob.inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["BUCKET"]["value"] == "magento-prod-velero" and env["PREFIX"]["value"] == "etcd-snapshots/prod/"


def test_dev_without_a_backup_target_has_no_etcd_snapshots(dev):
    assert not [r for r in dev.of_type("kubernetes:batch/v1:CronJob") if r.inputs["metadata"]["name"] == "etcd-backup"]
