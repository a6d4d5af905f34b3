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

# apt waits for the dpkg lock instead of failing: on a fresh server apt-daily and unattended-upgrades
# hold it for minutes after the first boot.
APT_LOCK=(-o DPkg::Lock::Timeout=600)

apt_update_once() {
  if [ "$APT_UPDATED" = 0 ]; then
    apt-get "${APT_LOCK[@]}" update -qq
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
  DEBIAN_FRONTEND=noninteractive apt-get "${APT_LOCK[@]}" install -y -qq --no-install-recommends "${missing[@]}"
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
    DEBIAN_FRONTEND=noninteractive apt-get "${APT_LOCK[@]}" install -y -qq --no-install-recommends --allow-change-held-packages "${wrong[@]}"
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

# install_component_patches: this control plane's kubeadm patches of kube-controller-manager and kube-scheduler
# (their probes ask the private address they bind, hosts/kubeadm.py probe_patch), from the files the stage copied
# ($CONTROLLER_MANAGER_PATCH, $SCHEDULER_PATCH; unset on a node without a control plane: nothing to do).
install_component_patches() {
  local dir=/etc/kubernetes/magento/patches
  if [ -n "${CONTROLLER_MANAGER_PATCH:-}" ]; then
    put_file "${dir}/kube-controller-manager+strategic.yaml" 0644 <"$CONTROLLER_MANAGER_PATCH" || true
  fi
  if [ -n "${SCHEDULER_PATCH:-}" ]; then
    put_file "${dir}/kube-scheduler+strategic.yaml" 0644 <"$SCHEDULER_PATCH" || true
  fi
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

# --- kubeadm progress markers. A stage writes `<name>.started` before it runs kubeadm and `<name>.done`
# only after it verified the result, so a half-finished init or join (an interrupted connection, a
# timeout) is told apart from a finished one; admin.conf and kubelet.conf exist long before kubeadm ends.
MARKERS=/etc/kubernetes/magento/state

marker_set() {
  install -d -m 0700 "${ROOT}${MARKERS}"
  printf '%s\n' "${2:-$(date -u +%Y-%m-%dT%H:%M:%SZ)}" >"${ROOT}${MARKERS}/$1"
}
marker_has() { [ -f "${ROOT}${MARKERS}/$1" ]; }
marker_clear() { rm -f "${ROOT}${MARKERS}/$1"; }

# wait_for SECONDS COMMAND...: retry COMMAND every 5 seconds until it succeeds or SECONDS have passed.
wait_for() {
  local limit="$1" waited=0
  shift
  until "$@"; do
    [ "$waited" -lt "$limit" ] || return 1
    sleep 5
    waited=$((waited + 5))
  done
}

# etcd_healthy: the local etcd member answers /health on the metrics listener kubeadm gives it
# (--listen-metrics-urls=http://127.0.0.1:2381). /health without `serializable` needs a quorum read,
# so it only passes once this member is part of a cluster with a leader.
etcd_healthy() {
  curl -fsS --max-time 5 http://127.0.0.1:2381/health 2>/dev/null | grep -q '"health":"true"'
}

# node_registered NODE: the Node object exists (read with the node's own kubelet credentials).
node_registered() {
  KUBECONFIG="${ROOT}/etc/kubernetes/kubelet.conf" kubectl get node "$1" >/dev/null 2>&1
}

# control_plane_complete: what a finished `kubeadm init` or control-plane join leaves behind: the four
# static pod manifests, a healthy local etcd member, and the kubeadm-config and cluster-info ConfigMaps.
control_plane_complete() {
  local manifest
  for manifest in etcd kube-apiserver kube-controller-manager kube-scheduler; do
    [ -f "${ROOT}/etc/kubernetes/manifests/${manifest}.yaml" ] || { log "static pod manifest ${manifest}.yaml is missing"; return 1; }
  done
  wait_for "${VERIFY_SECONDS:-120}" etcd_healthy || { log "the local etcd member is not healthy"; return 1; }
  [ -f "${ROOT}/etc/kubernetes/admin.conf" ] || { log "admin.conf is missing"; return 1; }
  KUBECONFIG="${ROOT}/etc/kubernetes/admin.conf" wait_for "${VERIFY_SECONDS:-120}" \
    kubectl -n kube-system get configmap kubeadm-config -o name >/dev/null 2>&1 || { log "ConfigMap kube-system/kubeadm-config is not readable"; return 1; }
  KUBECONFIG="${ROOT}/etc/kubernetes/admin.conf" kubectl -n kube-public get configmap cluster-info -o name >/dev/null 2>&1 \
    || { log "ConfigMap kube-public/cluster-info is missing"; return 1; }
}

# etcdctl_local ARGS...: etcdctl inside this control plane's etcd static pod (the image ships etcdctl;
# the pod mounts /etc/kubernetes/pki/etcd and /var/lib/etcd at the same paths as the host).
etcdctl_local() {
  local container
  container="$(crictl ps --quiet --state running --name '^etcd$' | head -n 1)"
  [ -n "$container" ] || { log "no running etcd container on this host"; return 1; }
  crictl exec "$container" etcdctl --endpoints=https://127.0.0.1:2379 \
    --cacert=/etc/kubernetes/pki/etcd/ca.crt \
    --cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt \
    --key=/etc/kubernetes/pki/etcd/healthcheck-client.key "$@"
}

# --- the kube-apiserver static pod of this control plane (stages 45 and 65)
apiserver_container() {
  crictl ps --quiet --state running --name '^kube-apiserver$' 2>/dev/null | head -n 1
}
apiserver_healthy() {
  curl -fsSk --max-time 5 https://127.0.0.1:6443/livez >/dev/null 2>&1
}
apiserver_replaced() {
  local now
  now="$(apiserver_container)"
  [ -n "$now" ] && [ "$now" != "$1" ] && apiserver_healthy
}

# restart_apiserver: stop the running kube-apiserver container so that the kubelet starts it again
# (the static pod's restartPolicy is Always) and it reads its files anew: certificate, encryption
# configuration, audit policy. Waits until a new container answers /livez. The manifest stays in place,
# so an interrupted restart never leaves a control plane without its API server.
restart_apiserver() {
  local old
  old="$(apiserver_container)"
  [ -n "$old" ] || die "no running kube-apiserver container on this host"
  crictl stop "$old" >/dev/null
  wait_for "${RESTART_SECONDS:-180}" apiserver_replaced "$old" || die "the kube-apiserver did not come back within ${RESTART_SECONDS:-180}s (crictl ps -a --name kube-apiserver; crictl logs)"
  log "kube-apiserver restarted and healthy"
}
