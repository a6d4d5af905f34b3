# shellcheck shell=sh
# etcd-backup, second container (amazon/aws-cli): uploads the verified snapshot to
# s3://$BUCKET/${PREFIX}etcd-<UTC time>.db (components/backups/streams.py names the prefix) and checks that the
# object in the bucket has the snapshot's size. The bucket encrypts objects at rest (its default encryption);
# credentials come from the environment (Secret etcd-backup-s3) and are never printed.
set -eu
: "${SNAPSHOT_DIR:?}" "${BUCKET:?}" "${PREFIX:?}" "${S3_ENDPOINT:?}"
snapshot="${SNAPSHOT_DIR}/etcd.db"
[ -s "${SNAPSHOT_DIR}/status.json" ] || { echo "etcd-backup: no verified snapshot to upload" >&2; exit 1; }
key="${PREFIX}etcd-$(date -u +%Y%m%dT%H%M%SZ).db"
size="$(wc -c <"$snapshot" | tr -d ' ')"
aws --endpoint-url "$S3_ENDPOINT" s3 cp --only-show-errors --no-progress "$snapshot" "s3://${BUCKET}/${key}"
stored="$(aws --endpoint-url "$S3_ENDPOINT" s3api head-object --bucket "$BUCKET" --key "$key" --query ContentLength --output text)"
if [ "$stored" != "$size" ]; then
  echo "etcd-backup: s3://${BUCKET}/${key} holds ${stored} bytes, the snapshot ${size}" >&2
  exit 1
fi
echo "etcd-backup: uploaded s3://${BUCKET}/${key} (${size} bytes)"
