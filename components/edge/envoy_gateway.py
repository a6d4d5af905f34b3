"""Envoy Gateway: the Gateway API and Envoy Gateway CRDs chart, the controller chart, and the control
plane's certificates.

The chart makes its control-plane TLS in a `pre-install` hook Job (certgen), which helm.v4.Chart never
runs: the controller would wait forever for Secret `envoy-gateway`. Instead, cert-manager issues the same
three certificates certgen writes (envoy/gateway internal/provider/kubernetes/secrets.go `CertsToSecret` at
v1.9.0: `envoy-gateway` for the controller's xDS server, `envoy` for the proxies, `envoy-rate-limit`; keys
`ca.crt`, `tls.crt`, `tls.key`, with certgen's names from internal/crypto/certgen.go) from a CA of its own,
and the program generates the OIDC HMAC key (`envoy-oidc-hmac`, key `hmac-secret`). The chart is applied
after every one of them is Ready. The topology injector webhook, another hook that needs certgen to patch
its CA bundle, is switched off.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components import k8s as kube
from components.certificates import WAIT_READY
from components.config.model import StackConfig
from components.placement import replicas, spread_constraints

ENVOY_GATEWAY_LABELS = {"control-plane": "envoy-gateway", "app.kubernetes.io/name": "gateway-helm",
                        "app.kubernetes.io/instance": "envoy-gateway"}
CA_ISSUER = "envoy-gateway-ca"
CLUSTER_DOMAIN = "cluster.local"
# Ready before anything depends on it: the provider waits for cert-manager's Ready condition.


def gateway_crds_values() -> dict[str, Any]:
    return {"crds": {"gatewayAPI": {"enabled": True, "channel": "standard"}, "envoyGateway": {"enabled": True}}}


def envoy_gateway_values(config: StackConfig, failure_domains: int) -> dict[str, Any]:
    count = replicas(failure_domains)
    return {
        # The CRDs come from the gateway-crds chart: skipped here both as chart CRDs and as templates.
        "crds": {"enabled": False},
        "deployment": {
            "replicas": count,
            "envoyGateway": {"resources": config.edge.resources.envoy_gateway.as_k8s()},
            "pod": {"topologySpreadConstraints": spread_constraints(ENVOY_GATEWAY_LABELS, failure_domains)},
        },
        "podDisruptionBudget": {"maxUnavailable": 1} if count > 1 else {"minAvailable": 0},
        "topologyInjector": {"enabled": False},
        "kubernetesClusterDomain": CLUSTER_DOMAIN,
        "config": {
            "envoyGateway": {
                "gateway": {"controllerName": "gateway.envoyproxy.io/gatewayclass-controller"},
                "provider": {"type": "Kubernetes"},
                "logging": {"level": {"default": "info"}},
            }
        },
    }


def _certificate(name: str, namespace: str, spec: dict[str, Any], opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
    return kube.custom_object(
        f"envoy-gateway-{name}-certificate" if name != CA_ISSUER else "envoy-gateway-ca-certificate",
        "cert-manager.io/v1",
        "Certificate",
        metadata={"name": name, "namespace": namespace, "labels": kube.labels("edge"), "annotations": WAIT_READY},
        fields={"spec": {"secretName": name, "privateKey": {"algorithm": "RSA", "size": 2048, "rotationPolicy": "Always"},
                         **spec}},
        opts=opts,
    )


def control_plane_certificates(namespace: str, opts: pulumi.ResourceOptions) -> list[pulumi.Resource]:
    """What certgen would have made, made by cert-manager and the program; the chart depends on all of it."""
    self_signed = kube.custom_object(
        "envoy-gateway-selfsigned-issuer",
        "cert-manager.io/v1",
        "Issuer",
        metadata={"name": "envoy-gateway-selfsigned", "namespace": namespace, "labels": kube.labels("edge")},
        fields={"spec": {"selfSigned": {}}},
        opts=opts,
    )
    ca = _certificate(
        CA_ISSUER, namespace,
        {"isCA": True, "commonName": "envoy-gateway", "duration": "43800h", "renewBefore": "720h",
         "issuerRef": {"group": "cert-manager.io", "kind": "Issuer", "name": "envoy-gateway-selfsigned"}},
        pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[self_signed])),
    )
    ca_issuer = kube.custom_object(
        "envoy-gateway-ca-issuer",
        "cert-manager.io/v1",
        "Issuer",
        metadata={"name": CA_ISSUER, "namespace": namespace, "labels": kube.labels("edge")},
        fields={"spec": {"ca": {"secretName": CA_ISSUER}}},
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[ca])),
    )
    after_ca = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[ca_issuer]))
    issuer_ref = {"group": "cert-manager.io", "kind": "Issuer", "name": CA_ISSUER}
    service_names = [
        "envoy-gateway", f"envoy-gateway.{namespace}", f"envoy-gateway.{namespace}.svc",
        f"envoy-gateway.{namespace}.svc.{CLUSTER_DOMAIN}",
    ]
    leaves = [
        _certificate("envoy-gateway", namespace, {"commonName": "envoy-gateway", "dnsNames": service_names,
                                                   "duration": "8760h", "renewBefore": "720h", "issuerRef": issuer_ref}, after_ca),
        *(
            _certificate(name, namespace, {"commonName": "envoy", "dnsNames": [f"*.{namespace}"],
                                           "duration": "8760h", "renewBefore": "720h", "issuerRef": issuer_ref}, after_ca)
            for name in ("envoy", "envoy-rate-limit")
        ),
    ]
    hmac = random.RandomPassword("envoy-oidc-hmac-key", length=32, special=False, opts=opts)
    secret = k8s.core.v1.Secret(
        "envoy-oidc-hmac",
        metadata=k8s.meta.v1.ObjectMetaArgs(name="envoy-oidc-hmac", namespace=namespace, labels=kube.labels("edge")),
        type="Opaque",
        string_data={"hmac-secret": hmac.result},
        opts=opts,
    )
    return [ca, ca_issuer, *leaves, secret]
