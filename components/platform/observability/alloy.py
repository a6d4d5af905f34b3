"""Alloy, one per node (DaemonSet): tails the logs of the pods on its node through the Kubernetes API (no host
paths, so it runs as a non-root user) and pushes them to Loki; receives OTLP traces from the stores' PHP and
forwards them to Tempo."""

from __future__ import annotations

from typing import Any

from components.config.model import StackConfig
from components.platform.observability.common import LOKI_URL, TEMPO_OTLP_GRPC

OTLP_GRPC_PORT = 4317
OTLP_HTTP_PORT = 4318

ALLOY_CONFIG = f"""
// Pods on this node (HOSTNAME is the node name: the chart sets it from spec.nodeName).
discovery.kubernetes "pods" {{
  role = "pod"
  selectors {{
    role  = "pod"
    field = "spec.nodeName=" + sys.env("HOSTNAME")
  }}
}}

discovery.relabel "pods" {{
  targets = discovery.kubernetes.pods.targets
  rule {{
    source_labels = ["__meta_kubernetes_namespace"]
    target_label  = "namespace"
  }}
  rule {{
    source_labels = ["__meta_kubernetes_pod_name"]
    target_label  = "pod"
  }}
  rule {{
    source_labels = ["__meta_kubernetes_pod_container_name"]
    target_label  = "container"
  }}
  rule {{
    source_labels = ["__meta_kubernetes_pod_label_app_kubernetes_io_name"]
    target_label  = "app"
  }}
  rule {{
    source_labels = ["__meta_kubernetes_pod_node_name"]
    target_label  = "node"
  }}
}}

loki.source.kubernetes "pods" {{
  targets    = discovery.relabel.pods.output
  forward_to = [loki.write.default.receiver]
}}

loki.write "default" {{
  endpoint {{
    url = "{LOKI_URL}/loki/api/v1/push"
  }}
}}

otelcol.receiver.otlp "default" {{
  grpc {{
    endpoint = "0.0.0.0:{OTLP_GRPC_PORT}"
  }}
  http {{
    endpoint = "0.0.0.0:{OTLP_HTTP_PORT}"
  }}
  output {{
    traces = [otelcol.processor.batch.default.input]
  }}
}}

otelcol.processor.batch "default" {{
  output {{
    traces = [otelcol.exporter.otlp.tempo.input]
  }}
}}

otelcol.exporter.otlp "tempo" {{
  client {{
    endpoint = "{TEMPO_OTLP_GRPC}"
    tls {{
      insecure = true
    }}
  }}
}}
""".lstrip()


def alloy_values(config: StackConfig) -> dict[str, Any]:
    obs = config.platform.observability
    return {
        "alloy": {
            "configMap": {"create": True, "content": ALLOY_CONFIG},
            "enableReporting": False,
            "resources": obs.resources.alloy.as_k8s(),
            # The chart probes readiness on /-/ready; liveness on the same endpoint, with room for a slow start.
            "livenessProbe": {"httpGet": {"path": "/-/ready", "port": 12345}, "initialDelaySeconds": 30,
                              "periodSeconds": 20, "failureThreshold": 5},
            "extraPorts": [
                {"name": "otlp-grpc", "port": OTLP_GRPC_PORT, "targetPort": OTLP_GRPC_PORT, "protocol": "TCP"},
                {"name": "otlp-http", "port": OTLP_HTTP_PORT, "targetPort": OTLP_HTTP_PORT, "protocol": "TCP"},
            ],
            "securityContext": {"runAsNonRoot": True, "runAsUser": 473, "runAsGroup": 473, "allowPrivilegeEscalation": False,
                                "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}},
        },
        # No reloader sidecar: the chart's checksum/config annotation rolls the pods when the configuration changes.
        "configReloader": {"enabled": False},
        "controller": {"type": "daemonset"},
        # Traces sent to the Service stay on the sender's node.
        "service": {"internalTrafficPolicy": "Local"},
    }
