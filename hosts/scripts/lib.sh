# shellcheck shell=bash
# Helpers every stage script uses. When a stage is rendered for a host (hosts/stages.py) this file is
# inlined in place of the line that sources it, so each rendered script is self-contained.
#
# HOSTS_ROOT prefixes every file the scripts read or write: empty on a server, a sandbox directory in
# the idempotency tests (tests/test_hosts_idempotency.py). Every helper checks state before it changes
# anything, so a second run makes no changing call.

ROOT="${HOSTS_ROOT:-}"
APT_UPDATED=0

log() { printf '%s: %s\n' "${STAGE:-hosts}" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# put_file PATH MODE < content: write ROOT/PATH when its content or mode differ.
# Status 0 when the file changed, 1 when it was already right.
put_file() {
  local path="${ROOT}$1" mode="$2" tmp
  tmp="$(mktemp)"
  cat >"$tmp"
  if [ -f "$path" ] && cmp -s "$tmp" "$path" && [ "$(stat -c %a "$path")" = "${mode#0}" ]; then
    rm -f "$tmp"
    return 1
  fi
  mkdir -p "$(dirname "$path")"
  install -m "$mode" "$tmp" "$path"
  rm -f "$tmp"
  log "wrote $1"
  return 0
}

# installed_version PKG: the installed version of a Debian package, empty when it is not installed.
installed_version() {
  local out
  out="$(dpkg-query -W -f='${db:Status-Status} ${Version}' "$1" 2>/dev/null || true)"
  case "$out" in
    installed\ *) printf '%s' "${out#installed }" ;;
  esac
}

apt_update_once() {
  if [ "$APT_UPDATED" = 0 ]; then
    apt-get update -qq
    APT_UPDATED=1
  fi
}

# ensure_packages PKG...: install the packages that are missing, from the configured archives.
ensure_packages() {
  local missing=() pkg
  for pkg in "$@"; do
    [ -n "$(installed_version "$pkg")" ] || missing+=("$pkg")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  apt_update_once
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# ensure_held PKG...: mark packages held so that no unattended upgrade moves them.
ensure_held() {
  local held pkg
  held="$(apt-mark showhold)"
  for pkg in "$@"; do
    if ! grep -qx -- "$pkg" <<<"$held"; then
      apt-mark hold "$pkg" >/dev/null
    fi
  done
}

# ensure_pinned PKG=VERSION...: install exactly these versions (one apt call) and hold them.
ensure_pinned() {
  local wrong=() names=() spec
  for spec in "$@"; do
    names+=("${spec%%=*}")
    [ "$(installed_version "${spec%%=*}")" = "${spec#*=}" ] || wrong+=("$spec")
  done
  if [ "${#wrong[@]}" -gt 0 ]; then
    apt_update_once
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends --allow-change-held-packages "${wrong[@]}"
  fi
  ensure_held "${names[@]}"
}

# ensure_apt_repo LIST KEYRING KEY_URL LINE: an apt source signed by its own keyring.
ensure_apt_repo() {
  local list="$1" keyring="/etc/apt/keyrings/$2.gpg" key_url="$3" line="$4"
  if [ ! -s "${ROOT}${keyring}" ]; then
    install -d -m 0755 "${ROOT}/etc/apt/keyrings"
    curl -fsSL --retry 5 "$key_url" | gpg --dearmor --yes -o "${ROOT}${keyring}"
    chmod 0644 "${ROOT}${keyring}"
    log "fetched the signing key of $key_url"
  fi
  if printf '%s\n' "$line" | put_file "/etc/apt/sources.list.d/$list.list" 0644; then
    APT_UPDATED=0
    apt_update_once
  fi
}

# ensure_service UNIT: enabled at boot and running.
ensure_service() {
  systemctl is-enabled --quiet "$1" || systemctl enable --quiet "$1"
  systemctl is-active --quiet "$1" || systemctl start "$1"
}

# is_true VALUE: the rendered env files hold booleans as true/false.
is_true() { [ "$1" = "true" ]; }

# install_kubelet_patch SOURCE: the per-node KubeletConfiguration patch kubeadm applies at init,
# join and upgrade (system reservations that include this host's ZFS ARC).
install_kubelet_patch() {
  put_file /etc/kubernetes/magento/patches/kubeletconfiguration+strategic.yaml 0644 <"$1" || true
}

# node_field NODE TEMPLATE: a field of a Node read with a go-template ("" when absent).
node_field() {
  local value
  value="$(kubectl get node "$1" -o "go-template=$2" 2>/dev/null || true)"
  [ "$value" = "<no value>" ] && value=""
  printf '%s' "$value"
}

use_admin_kubeconfig() {
  export KUBECONFIG="${ROOT}/etc/kubernetes/admin.conf"
  [ -f "$KUBECONFIG" ] || die "no admin kubeconfig on this host: run it on the first control plane"
}
