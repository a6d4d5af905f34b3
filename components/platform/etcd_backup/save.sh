# shellcheck shell=sh
# etcd-backup, first container (registry.k8s.io/etcd: its /bin/sh is bash; besides etcd, etcdctl, etcdutl and cp
# the image has no tool, so this script uses shell builtins only).
# Saves a snapshot of the etcd member on this control plane (the pod runs on the host network) and verifies
# it with `etcdutl snapshot status`: a file etcdutl cannot read, or one without keys, fails the job.
# The snapshot holds every Secret of the cluster: it is written with mode 0600 into the pod's emptyDir, which
# is deleted with the pod.
set -eu
: "${SNAPSHOT_DIR:?}" "${ETCD_PKI:?}" "${ETCD_ENDPOINT:?}"
umask 077
snapshot="${SNAPSHOT_DIR}/etcd.db"
etcdctl --endpoints="$ETCD_ENDPOINT" --cacert="${ETCD_PKI}/ca.crt" \
  --cert="${ETCD_PKI}/healthcheck-client.crt" --key="${ETCD_PKI}/healthcheck-client.key" \
  --command-timeout=300s snapshot save "$snapshot"
status="$(etcdutl snapshot status "$snapshot" --write-out=json)" || {
  echo "etcd-backup: etcdutl cannot read the snapshot: not uploaded" >&2
  exit 1
}
case "$status" in
  *'"totalKey":0,'* | *'"totalKey":0}'*)
    echo "etcd-backup: the snapshot holds no keys: not uploaded" >&2
    exit 1
    ;;
  *'"totalKey":'*) ;;
  *)
    echo "etcd-backup: etcdutl printed no key count: ${status}" >&2
    exit 1
    ;;
esac
printf '%s\n' "$status" >"${SNAPSHOT_DIR}/status.json"
echo "etcd-backup: snapshot verified: ${status}"
