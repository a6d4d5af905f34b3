#!/usr/bin/env bash
# all-magento-metrics.sh: a ZED zedlet, installed in /etc/zfs/zed.d by the hosts layer's 10-baseline stage.
# ZED (zed(8)) runs every executable in its zedlet directory whose name starts with the event's subclass or
# with `all-`, with the event in ZEVENT_* variables (the all-syslog.sh zedlet logs them: ZEVENT_SUBCLASS,
# ZEVENT_POOL, ZEVENT_VDEV_PATH, ZEVENT_VDEV_STATE_STR...). This one counts the events that mean a disk or
# its data is failing, per pool, in node exporter's textfile directory (docs/observability.md, "Host health"):
#   magento_zfs_events_total{pool, class="checksum"}     data read back did not match its checksum
#   magento_zfs_events_total{pool, class="io"}           an I/O to a vdev failed
#   magento_zfs_events_total{pool, class="statechange"}  a vdev left ONLINE (FAULTED, DEGRADED, UNAVAIL, REMOVED, OFFLINE)
# The counts live in STATE_FILE (they survive reboots). `all-magento-metrics.sh init` (run by
# magento-host-health) writes 0 for every imported pool, so that the first event is an increase.
set -euo pipefail

TEXTFILE_DIR="${TEXTFILE_DIR:-/var/lib/node-exporter/textfile}"
STATE_FILE="${STATE_FILE:-/var/lib/magento-host-health/zfs-events}"
CLASSES="checksum io statechange"

# count POOL CLASS INCREMENT: add to one counter (creating the pool's counters at 0 first).
count() {
  local pool="$1" class="$2" by="$3" known c
  known="$(awk -v p="$pool" '$1 == p { print $2 }' "$STATE_FILE")"
  for c in $CLASSES; do
    grep -qx -- "$c" <<<"$known" || printf '%s %s 0\n' "$pool" "$c" >>"$STATE_FILE"
  done
  [ "$by" -gt 0 ] || return 0
  awk -v p="$pool" -v c="$class" -v by="$by" '$1 == p && $2 == c { $3 += by } { print }' "$STATE_FILE" >"${STATE_FILE}.new"
  mv -f "${STATE_FILE}.new" "$STATE_FILE"
}

render() {
  local tmp
  tmp="$(mktemp "${TEXTFILE_DIR}/.magento_zfs_events.prom.XXXXXX")"
  {
    printf '# HELP magento_zfs_events_total ZFS events that mean a disk or its data is failing, counted by ZED.\n'
    printf '# TYPE magento_zfs_events_total counter\n'
    sort "$STATE_FILE" | awk '{ gsub(/\\/, "\\\\", $1); gsub(/"/, "\\\"", $1); printf "magento_zfs_events_total{pool=\"%s\",class=\"%s\"} %d\n", $1, $2, $3 }'
  } >"$tmp"
  chmod 0644 "$tmp"
  mv -f "$tmp" "${TEXTFILE_DIR}/magento_zfs_events.prom"
}

install -d -m 0755 "$(dirname "$STATE_FILE")" "$TEXTFILE_DIR"
touch "$STATE_FILE"
# ZED runs zedlets for several events at once: one writer at a time.
exec 9>"${STATE_FILE}.lock"
flock 9

if [ "${1:-}" = init ]; then
  while IFS= read -r pool; do
    [ -n "$pool" ] && count "$pool" "" 0
  done < <(zpool list -H -o name 2>/dev/null || true)
  render
  exit 0
fi

[ -n "${ZEVENT_POOL:-}" ] || exit 0
case "${ZEVENT_SUBCLASS:-}" in
  checksum | io) count "$ZEVENT_POOL" "$ZEVENT_SUBCLASS" 1 ;;
  statechange)
    case "${ZEVENT_VDEV_STATE_STR:-}" in
      ONLINE | "") exit 0 ;;
      *) count "$ZEVENT_POOL" statechange 1 ;;
    esac
    ;;
  *) exit 0 ;;
esac
render
