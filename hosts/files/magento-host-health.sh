#!/usr/bin/env bash
# magento-host-health: host health metrics for node exporter's textfile collector (docs/observability.md,
# "Host health"). The hosts layer's 10-baseline stage installs it as /usr/local/sbin/magento-host-health and
# runs it from magento-host-health.timer. Each file is written atomically (a temporary file in the same
# directory, readable by node exporter's user, then mv), so node exporter never reads half a file:
#   magento_certificates.prom  notAfter of every kubeadm certificate and of the kubelet's client certificate
#   magento_nvme.prom          the SMART/health log of every NVMe controller, read with `smartctl -j -a`
# It also writes 0 for the ZFS event counters of every imported pool (the ZED zedlet counts the events).
#
# smartctl rather than nvme-cli: smartmontools' JSON output is versioned (json_format_version) and its
# field names are documented and stable across releases, while `nvme smart-log -o json` renamed fields
# between nvme-cli 1.x and 2.x (avail_spare/spare_thresh vs available_spare...); smartmontools also
# brings smartd, which reads the same log between scrapes.
set -euo pipefail

TEXTFILE_DIR="${TEXTFILE_DIR:-/var/lib/node-exporter/textfile}"
# Directories are searched for *.crt (kubeadm's pki/ and pki/etcd/); files are read as they are (the kubelet's
# rotated client and serving certificates, serverTLSBootstrap; a missing one is skipped).
CERTIFICATE_PATHS="${CERTIFICATE_PATHS:-/etc/kubernetes/pki /var/lib/kubelet/pki/kubelet-client-current.pem /var/lib/kubelet/pki/kubelet-server-current.pem}"
# Default: every NVMe controller character device (/dev/nvme0, /dev/nvme1...), not the namespaces.
NVME_DEVICES="${NVME_DEVICES:-}"
ZEDLET="${ZEDLET:-/etc/zfs/zed.d/all-magento-metrics.sh}"

# label VALUE: a Prometheus label value with backslash, double quote and newline escaped.
label() {
  local value="${1//\\/\\\\}"
  value="${value//\"/\\\"}"
  printf '%s' "${value//$'\n'/\\n}"
}

# publish NAME < text: replace TEXTFILE_DIR/NAME atomically with a file node exporter (nobody) can read.
publish() {
  local tmp
  tmp="$(mktemp "${TEXTFILE_DIR}/.$1.XXXXXX")"
  cat >"$tmp"
  chmod 0644 "$tmp"
  mv -f "$tmp" "${TEXTFILE_DIR}/$1"
}

certificate_files() {
  local path
  for path in $CERTIFICATE_PATHS; do
    if [ -d "$path" ]; then
      find "$path" -name '*.crt' -type f | sort
    elif [ -e "$path" ]; then
      printf '%s\n' "$path"
    fi
  done
}

certificates() {
  local file end errors=0 lines=""
  while IFS= read -r file; do
    [ -n "$file" ] || continue
    # `notAfter=Dec  3 07:52:49 2027 GMT`; a PEM with a key (kubelet-client-current.pem) yields its certificate.
    if end="$(openssl x509 -noout -enddate -in "$file" 2>/dev/null)" && end="$(date -u -d "${end#notAfter=}" +%s 2>/dev/null)"; then
      lines+="magento_certificate_not_after_timestamp_seconds{path=\"$(label "$file")\"} ${end}"$'\n'
    else
      errors=$((errors + 1))
    fi
  done < <(certificate_files)
  {
    printf '# HELP magento_certificate_not_after_timestamp_seconds notAfter of a certificate file on this host (kubeadm PKI, kubelet client certificate).\n'
    printf '# TYPE magento_certificate_not_after_timestamp_seconds gauge\n'
    printf '%s' "$lines"
    printf '# HELP magento_certificate_read_errors Certificate files the last run could not read.\n'
    printf '# TYPE magento_certificate_read_errors gauge\n'
    printf 'magento_certificate_read_errors %s\n' "$errors"
  } | publish magento_certificates.prom
}

nvme_devices() {
  local device
  if [ -n "$NVME_DEVICES" ]; then
    local listed
    read -ra listed <<<"$NVME_DEVICES"
    printf '%s\n' "${listed[@]}"
    return
  fi
  for device in /dev/nvme[0-9]*; do
    [[ "$device" =~ ^/dev/nvme[0-9]+$ ]] && [ -c "$device" ] && printf '%s\n' "$device"
  done
  return 0
}

# The fields of smartctl's JSON (json_format_version 1) this reads, tab-separated; fails without the NVMe log.
# shellcheck disable=SC2016 # jq's variables, not the shell's
NVME_FIELDS='.nvme_smart_health_information_log as $log
  | if $log == null then error("no NVMe SMART/health log") else . end
  | [$log.critical_warning, $log.percentage_used, $log.available_spare, $log.available_spare_threshold,
     $log.media_errors, (.temperature.current // $log.temperature),
     (.model_name // ""), (.serial_number // ""), (.firmware_version // "")]
  | if any(.[0:6][]; type != "number") then error("a health field is missing") else . end
  | map(tostring) | @tsv'

nvme() {
  local device name json status fields errors=0
  local warning="" used="" spare="" threshold="" media="" temperature="" info=""
  local cw pu as ast me t model serial firmware
  while IFS= read -r device; do
    [ -n "$device" ] || continue
    name="$(label "${device##*/}")"
    # smartctl's exit status is a bit mask: bits 0 and 1 mean no data (bad arguments, device not opened);
    # the higher bits report what the data says (failing, errors logged) and the JSON is complete.
    status=0
    json="$(smartctl -j -a "$device" 2>/dev/null)" || status=$?
    if [ $((status & 3)) -ne 0 ] || ! fields="$(jq -r "$NVME_FIELDS" <<<"$json" 2>/dev/null)"; then
      errors=$((errors + 1))
      continue
    fi
    IFS=$'\t' read -r cw pu as ast me t model serial firmware <<<"$fields"
    warning+="magento_nvme_critical_warning{device=\"${name}\"} ${cw}"$'\n'
    used+="magento_nvme_percentage_used_ratio{device=\"${name}\"} $(ratio "$pu")"$'\n'
    spare+="magento_nvme_available_spare_ratio{device=\"${name}\"} $(ratio "$as")"$'\n'
    threshold+="magento_nvme_available_spare_threshold_ratio{device=\"${name}\"} $(ratio "$ast")"$'\n'
    media+="magento_nvme_media_errors_total{device=\"${name}\"} ${me}"$'\n'
    temperature+="magento_nvme_temperature_celsius{device=\"${name}\"} ${t}"$'\n'
    info+="magento_nvme_info{device=\"${name}\",model=\"$(label "$model")\",serial=\"$(label "$serial")\",firmware=\"$(label "$firmware")\"} 1"$'\n'
  done < <(nvme_devices)
  {
    family magento_nvme_critical_warning gauge "NVMe critical warning bits (0: none; 1 spare, 2 temperature, 4 reliability, 8 read-only, 16 volatile backup)." "$warning"
    family magento_nvme_percentage_used_ratio gauge "NVMe endurance used, as the drive estimates it (1 = rated endurance; can exceed 1)." "$used"
    family magento_nvme_available_spare_ratio gauge "NVMe spare capacity left." "$spare"
    family magento_nvme_available_spare_threshold_ratio gauge "NVMe spare capacity below which the drive raises critical warning bit 0." "$threshold"
    family magento_nvme_media_errors_total counter "NVMe unrecovered data integrity errors over the drive's life." "$media"
    family magento_nvme_temperature_celsius gauge "NVMe composite temperature." "$temperature"
    family magento_nvme_info gauge "NVMe drive identity (the serial is what a hardware ticket names)." "$info"
    printf '# HELP magento_nvme_read_errors NVMe controllers the last run could not read with smartctl.\n'
    printf '# TYPE magento_nvme_read_errors gauge\n'
    printf 'magento_nvme_read_errors %s\n' "$errors"
  } | publish magento_nvme.prom
}

# ratio PERCENT: 87 -> 0.87
ratio() { awk -v p="$1" 'BEGIN { printf "%g", p / 100 }'; }

# family NAME TYPE HELP SAMPLES: one metric family (no samples: nothing, not even its HELP line).
family() {
  [ -n "$4" ] || return 0
  printf '# HELP %s %s\n# TYPE %s %s\n%s' "$1" "$3" "$1" "$2" "$4"
}

install -d -m 0755 "$TEXTFILE_DIR"
certificates
nvme
# ZFS event counters start at 0 for every imported pool, so the first event is an increase.
if [ -x "$ZEDLET" ] && command -v zpool >/dev/null; then
  "$ZEDLET" init
fi
