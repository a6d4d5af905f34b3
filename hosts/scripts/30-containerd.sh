#!/usr/bin/env bash
# 30-containerd: containerd 2.x (config version 3, systemd cgroups, pinned sandbox image, certs.d
# registry mirrors), with runc from the same package and the CNI plugins from 40-kubernetes-packages.
# Usage: 30-containerd.sh ENV_FILE
set -euo pipefail
STAGE=30-containerd
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck disable=SC1090
. "${1:?usage: $0 ENV_FILE}"
: "${CONTAINERD_PACKAGE_VERSION:?}" "${RUNC_VERSION:?}" "${PAUSE_IMAGE:?}" "${REGISTRY_MIRRORS?}"

arch="$(dpkg --print-architecture)"
ensure_apt_repo docker docker https://download.docker.com/linux/ubuntu/gpg \
  "deb [arch=${arch} signed-by=/etc/apt/keyrings/docker.gpg] https://download.docker.com/linux/ubuntu noble stable"
ensure_pinned "containerd.io=${CONTAINERD_PACKAGE_VERSION}"
runc_version="$(runc --version | awk 'NR == 1 { print $3 }')"
if [ "$runc_version" != "$RUNC_VERSION" ]; then
  log "WARNING: containerd.io ${CONTAINERD_PACKAGE_VERSION} ships runc ${runc_version}, components/versions.py records ${RUNC_VERSION}"
fi

config_changed=false
if put_file /etc/containerd/config.toml 0644 <<CONF; then
# Managed by the magento hosts layer (containerd 2.x, config version 3).
version = 3

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
  SystemdCgroup = true

[plugins.'io.containerd.cri.v1.runtime'.cni]
  bin_dirs = ['/opt/cni/bin']
  conf_dir = '/etc/cni/net.d'

[plugins.'io.containerd.cri.v1.images'.pinned_images]
  sandbox = '${PAUSE_IMAGE}'

[plugins.'io.containerd.cri.v1.images'.registry]
  config_path = '/etc/containerd/certs.d'
CONF
  config_changed=true
fi

# Registry mirrors: one hosts.toml per upstream registry; containerd reads certs.d on every pull.
marker="# Managed by the magento hosts layer."
wanted=" "
for entry in $REGISTRY_MIRRORS; do
  IFS='|' read -r registry endpoint override <<<"$entry"
  wanted+="${registry} "
  server="https://${registry}"
  [ "$registry" = docker.io ] && server="https://registry-1.docker.io"
  put_file "/etc/containerd/certs.d/${registry}/hosts.toml" 0644 <<CONF || true
${marker}
server = "${server}"

[host."${endpoint}"]
  capabilities = ["pull", "resolve"]
  override_path = ${override}
CONF
done
for file in "${ROOT}"/etc/containerd/certs.d/*/hosts.toml; do
  [ -f "$file" ] || continue
  registry="$(basename "$(dirname "$file")")"
  if [[ "$wanted" != *" ${registry} "* ]] && grep -qxF -- "$marker" "$file"; then
    rm -f "$file"
    log "removed the mirror of ${registry}"
  fi
done

put_file /etc/crictl.yaml 0644 <<'CONF' || true
runtime-endpoint: unix:///run/containerd/containerd.sock
image-endpoint: unix:///run/containerd/containerd.sock
CONF

if [ "$config_changed" = true ] && systemctl is-active --quiet containerd; then
  systemctl restart containerd
fi
ensure_service containerd

log "containerd ok"
