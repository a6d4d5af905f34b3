"""The platform layer: Argo CD, OpenBao/Vault with External Secrets, observability, Kyverno, KubeArmor, kured, Harbor, KEDA and Velero.

One component per service (a module each beside this one); this class composes them in order:
the secrets store and External Secrets first (other services' secrets may come from it), then admission
(Kyverno's webhooks before the workloads they judge), runtime security, the registry, GitOps, autoscaling,
reboots and cluster backups. Per-site objects that need the site's namespace follow the sites layer
(components/platform/site_objects.py, registered by program.py). Observability is its own component
(components/platform/observability/); the Prometheus Operator CRDs are not here: program.py installs them
before the networking layer (components/platform/observability/layer.py says why).
"""

from __future__ import annotations

import pulumi

from components import k8s as kube
from components.layer import Layer, LayerArgs
from components.platform.admission import Admission
from components.platform.argocd import ArgoCd
from components.platform.autoscaling import KEDA_NAMESPACE, keda_values
from components.platform.cluster_backups import CREDENTIALS_SECRET, VELERO_NAMESPACE, credentials_file, velero_values
from components.platform.common import opaque_secret, service_namespace
from components.platform.etcd_backup import EtcdBackup
from components.platform.gitops import render_providers
from components.platform.observability import Observability
from components.platform.reboots import KURED_NAMESPACE, kured_values
from components.platform.registry import Registry
from components.platform.runtime import RuntimeSecurity
from components.platform.secrets import SecretsStore


class PlatformServices(Layer):
    TYPE = "magento:platform:PlatformServices"

    def build(self, args: LayerArgs) -> dict[str, object]:
        config, domains = args.config, args.failure_domains
        opts = self.child_opts
        self.observability = Observability("observability", args, opts)
        self.secrets_store = SecretsStore("secrets", config, domains, opts)
        self.admission = Admission("admission", config, domains, opts)
        self.runtime = RuntimeSecurity("runtime-security", config, opts)
        self.registry = Registry("registry", config, opts)
        self.argocd = ArgoCd("gitops", config, domains, opts)
        self.render_providers = render_providers(config, opts)

        keda_ns = service_namespace(KEDA_NAMESPACE, "restricted", "autoscaling", opts)
        self.keda = kube.chart("keda", "keda", namespace=KEDA_NAMESPACE, values=keda_values(config, domains),
                               opts=pulumi.ResourceOptions(parent=self, depends_on=[keda_ns]))
        self.kured = kube.chart("kured", "kured", namespace=KURED_NAMESPACE, values=kured_values(config), opts=opts)

        self.velero = None
        if args.backups is not None:
            target = args.backups.target("velero")
            velero_ns = service_namespace(VELERO_NAMESPACE, "privileged", "cluster-backups", opts)  # node agent reads host paths
            after_ns = pulumi.ResourceOptions(parent=self, depends_on=[velero_ns])
            credentials = opaque_secret("velero-s3", CREDENTIALS_SECRET, VELERO_NAMESPACE, {"cloud": credentials_file(target)},
                                        "cluster-backups", after_ns)
            self.velero = kube.chart("velero", "velero", namespace=VELERO_NAMESPACE, values=velero_values(config, target),
                                     opts=pulumi.ResourceOptions(parent=self, depends_on=[velero_ns, credentials]))
        # Scheduled etcd snapshots where this program runs etcd (kubeadm) and has a backup target.
        self.etcd_backup = None
        if args.backups is not None and config.cluster.mode == "kubeadm":
            self.etcd_backup = EtcdBackup("etcd-backup", config, args.backups.target("velero"), opts)
        return {
            "prometheus": self.observability.prometheus_url,
            "secretsBackend": config.platform.secrets_backend,
            "gitopsSites": sorted(self.render_providers),
            "clusterBackups": self.velero is not None,
            "etcdSnapshots": self.etcd_backup is not None,
        }
