"""The observability component of the platform layer, and the Prometheus Operator CRDs it installs first.

`PrometheusOperatorCrds` is registered by program.py right after the cluster, before the networking layer:
every layer may then create ServiceMonitors and PodMonitors on the first `pulumi up` (no second run with a
flag turned on). `Observability` (inside the platform layer) installs the rest, in this order: namespaces and
secrets; kube-prometheus-stack (operator, Prometheus, Alertmanager, kube-state-metrics, node exporter);
Loki and Tempo; Grafana; Alloy; then the platform's PrometheusRules and the dashboards ConfigMap.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components import k8s as kube
from components.layer import LayerArgs
from components.platform.observability import alertmanager, storage
from components.platform.observability.alloy import alloy_values
from components.platform.observability.common import (
    ALERTMANAGER_URL,
    LOKI_URL,
    NAMESPACE,
    NODE_EXPORTER_NAMESPACE,
    PROMETHEUS_URL,
    TEMPO_OTLP_GRPC,
)
from components.platform.observability.dashboards import dashboards_configmap
from components.platform.observability.grafana import ADMIN_SECRET, ADMIN_USER, grafana_values
from components.platform.observability.loki import loki_values
from components.platform.observability.prometheus import crds_values, kube_prometheus_stack_values
from components.platform.observability.rules import prometheus_rules
from components.platform.observability.tempo import tempo_values

COMPONENT = "monitoring"


class PrometheusOperatorCrds(pulumi.ComponentResource):
    """The monitoring.coreos.com CRDs (ServiceMonitor, PodMonitor, PrometheusRule, ...) from kube-prometheus-stack."""

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__("magento:cluster:PrometheusOperatorCrds", name, None, opts)
        self.chart = kube.chart(name, "kube-prometheus-stack", namespace=NAMESPACE, values=crds_values(),
                                opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({"chart": name})


class Observability(pulumi.ComponentResource):
    def __init__(self, name: str, args: LayerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("magento:platform:Observability", name, None, opts)
        config, domains, secrets = args.config, args.failure_domains, args.secrets
        obs = config.platform.observability
        child = pulumi.ResourceOptions(parent=self)

        monitoring = kube.namespace("monitoring-namespace", NAMESPACE, level="baseline", component=COMPONENT, opts=child)
        node = kube.namespace("monitoring-node-namespace", NODE_EXPORTER_NAMESPACE, level="privileged", component=COMPONENT,
                              opts=child)
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[monitoring])

        am_config = alertmanager.config_secret(
            obs.alerting,
            secrets.alertmanager_smtp_password if secrets else None,
            secrets.alertmanager_webhook_token if secrets else None,
            in_ns,
        )
        self.kube_prometheus_stack = kube.chart(
            "kube-prometheus-stack", "kube-prometheus-stack", namespace=NAMESPACE,
            values=kube_prometheus_stack_values(config, domains), skip_crds=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[monitoring, node, am_config]),
        )

        store = storage.object_store(args)
        bucket_secret = storage.credentials_secret(args, in_ns)
        after_secrets = pulumi.ResourceOptions(parent=self, depends_on=[monitoring, *([bucket_secret] if bucket_secret else [])])
        self.loki = kube.chart("loki", "loki", namespace=NAMESPACE, values=loki_values(config, store), opts=after_secrets)
        self.tempo = kube.chart("tempo", "tempo", namespace=NAMESPACE, values=tempo_values(config, store), opts=after_secrets)

        password = random.RandomPassword("grafana-admin-password", length=32, special=False, opts=child)
        admin = k8s.core.v1.Secret(
            "grafana-admin",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=ADMIN_SECRET, namespace=NAMESPACE, labels=kube.labels(COMPONENT)),
            type="Opaque",
            string_data={"admin-user": ADMIN_USER, "admin-password": password.result},
            opts=in_ns,
        )
        board_map = dashboards_configmap(in_ns)
        self.grafana = kube.chart(
            "grafana", "grafana", namespace=NAMESPACE, values=grafana_values(config),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[monitoring, admin, board_map]),
        )
        self.alloy = kube.chart(
            "alloy", "alloy", namespace=NAMESPACE, values=alloy_values(config),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[monitoring, self.loki, self.tempo]),
        )
        # The operator's admission webhook validates PrometheusRules: create them once it serves.
        self.rules = prometheus_rules(pulumi.ResourceOptions(parent=self, depends_on=[self.kube_prometheus_stack]))

        self.grafana_admin_password = pulumi.Output.secret(password.result)
        self.prometheus_url = PROMETHEUS_URL  # kured holds reboots while alerts fire here
        self.register_outputs({
            "prometheus": PROMETHEUS_URL, "alertmanager": ALERTMANAGER_URL, "loki": LOKI_URL, "tempoOtlp": TEMPO_OTLP_GRPC,
            "objectStorage": store.bucket if store else "volume",
        })
