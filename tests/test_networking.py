"""The networking layer under mocks: Cilium, the baseline policy, MetalLB pools, metrics-server."""

from __future__ import annotations

from tests.layer_helpers import chart, comes_after, in_layer, kind, problems, rendered, schema_problems, stack_values


def test_cilium_replaces_kube_proxy_against_the_control_plane_endpoint_in_prod(prod):
    values = chart(prod, "cilium").inputs["values"]
    assert values["kubeProxyReplacement"] is True
    assert (values["k8sServiceHost"], values["k8sServicePort"]) == ("10.10.0.10", 6443)  # the API VIP
    assert values["routingMode"] == "native"
    assert values["autoDirectNodeRoutes"] is True
    assert values["ipv4NativeRoutingCIDR"] == "10.244.0.0/16"
    assert values["bpf"]["masquerade"] is True
    assert chart(prod, "cilium").inputs["namespace"] == "kube-system"


def test_cilium_on_an_existing_cluster_keeps_kube_proxy_and_tunnels(dev):
    values = chart(dev, "cilium").inputs["values"]
    assert values["kubeProxyReplacement"] is False
    assert "k8sServiceHost" not in values
    assert values["routingMode"] == "tunnel"


def test_existing_cluster_with_an_endpoint_gets_kube_proxy_replacement(run):
    values = stack_values("dev")
    values["cluster"]["controlPlaneEndpoint"] = "172.18.0.2:6443"
    cilium = chart(run(values, stack="dev"), "cilium").inputs["values"]
    assert cilium["kubeProxyReplacement"] is True
    assert (cilium["k8sServiceHost"], cilium["k8sServicePort"]) == ("172.18.0.2", 6443)


def test_hubble_relay_ui_and_metrics(stack_recording):
    hubble = chart(stack_recording, "cilium").inputs["values"]["hubble"]
    assert hubble["enabled"] and hubble["relay"]["enabled"] and hubble["ui"]["enabled"]
    assert {"dns", "drop", "flow"} <= set(hubble["metrics"]["enabled"])
    assert chart(stack_recording, "cilium").inputs["values"]["prometheus"]["enabled"] is True


def test_exactly_one_load_balancer_ipam_metallb(stack_recording):
    values = chart(stack_recording, "cilium").inputs["values"]
    assert values["enableLBIPAM"] is False
    assert values["defaultLBServiceIPAM"] == "none"
    assert values["l2announcements"]["enabled"] is False
    assert not kind(stack_recording, "CiliumLoadBalancerIPPool")
    assert not kind(stack_recording, "CiliumL2AnnouncementPolicy")
    assert chart(stack_recording, "metallb").inputs["values"]["speaker"]["frr"]["enabled"] is False


def test_address_pools_and_l2_interfaces_from_config(prod, dev):
    pools = {p.inputs["metadata"]["name"]: p.inputs["spec"] for p in kind(prod, "IPAddressPool")}
    assert pools == {"public": {"addresses": ["203.0.113.241-203.0.113.253"], "autoAssign": True, "avoidBuggyIPs": True}}
    (l2,) = kind(prod, "L2Advertisement")
    # the vRack interface of the hosts that run workloads (tests/test_networking_ovh.py)
    assert l2.inputs["spec"]["ipAddressPools"] == ["public"] and l2.inputs["spec"]["interfaces"] == ["enp3s0f1"]
    (dev_l2,) = kind(dev, "L2Advertisement")
    assert "interfaces" not in dev_l2.inputs["spec"]
    assert [p.inputs["spec"]["addresses"] for p in kind(dev, "IPAddressPool")] == [["172.18.255.200-172.18.255.250"]]


def test_several_pools_are_all_announced(run):
    values = stack_values("prod")
    values["networking"]["loadBalancerPools"].append({"name": "internal", "addresses": ["10.10.0.200-10.10.0.220"], "autoAssign": False})
    rec = run(values, stack="prod")
    assert {p.inputs["metadata"]["name"]: p.inputs["spec"]["autoAssign"] for p in kind(rec, "IPAddressPool")} == {
        "public": True,
        "internal": False,
    }
    assert kind(rec, "L2Advertisement")[0].inputs["spec"]["ipAddressPools"] == ["public", "internal"]


def test_cni_first_then_metallb_then_pools(stack_recording):
    rec = stack_recording
    cilium = chart(rec, "cilium")
    for record in in_layer(rec, "networking"):
        if record.custom and record is not cilium and record.rendered_by != cilium.urn:
            assert comes_after(rec, record, cilium), record.name
    metallb = chart(rec, "metallb")
    for record in kind(rec, "IPAddressPool") + kind(rec, "L2Advertisement"):
        assert comes_after(rec, record, metallb)
    # The storage and edge layers' objects wait for the CNI.
    for layer in ("storage", "edge"):
        for record in in_layer(rec, layer):
            if record.custom:
                assert comes_after(rec, record, cilium), f"{layer}: {record.name}"


def test_metrics_server_verifies_kubelet_certificates(prod, dev, run):
    values = chart(prod, "metrics-server").inputs["values"]
    assert not any("insecure" in arg for arg in values["args"])
    assert "defaultArgs" not in values  # the chart's defaults carry no insecure flag either
    (deployment,) = rendered(prod, "metrics-server", "Deployment")
    assert not any("insecure" in a for a in deployment.inputs["spec"]["template"]["spec"]["containers"][0]["args"])
    # dev runs on kind, whose kubelets serve self-signed certificates: the one place verification is skipped.
    assert chart(dev, "metrics-server").inputs["values"]["args"] == ["--kubelet-insecure-tls"]
    signed = stack_values("dev")
    signed["cluster"]["existing"]["kubeletServingCertificates"] = "signed"
    assert chart(run(signed, stack="dev"), "metrics-server").inputs["values"]["args"] == []


def test_self_signed_kubelet_certificates_are_refused_in_prod():
    values = stack_values("dev")
    values["environment"] = "prod"
    assert "refused in prod" in problems(values)["cluster.existing.kubeletServingCertificates"]


def test_kubelet_serving_certificates_approved_for_our_hosts_only(prod, dev):
    approver = chart(prod, "kubelet-csr-approver")
    assert approver.inputs["values"]["providerRegex"] == "^(node-a|node-b|witness)$"
    assert "10.10.0.0/24" in approver.inputs["values"]["providerIpPrefixes"]
    assert comes_after(prod, chart(prod, "metrics-server"), approver)
    assert not [r for r in dev.resources if r.name == "kubelet-csr-approver"]


def test_replicas_follow_failure_domains(prod, dev):
    assert chart(prod, "cilium").inputs["values"]["operator"]["replicas"] == 2
    assert chart(dev, "cilium").inputs["values"]["operator"]["replicas"] == 1
    assert chart(prod, "metrics-server").inputs["values"]["podDisruptionBudget"]["enabled"] is True
    assert chart(dev, "metrics-server").inputs["values"]["replicas"] == 1


def test_baseline_dns_policy_is_clusterwide_and_never_default_deny(stack_recording):
    (policy,) = kind(stack_recording, "CiliumClusterwideNetworkPolicy")
    specs = policy.inputs["specs"]
    assert all(spec["enableDefaultDeny"] == {"ingress": False, "egress": False} for spec in specs)
    egress = specs[0]["egress"][0]
    assert egress["toEndpoints"][0]["matchLabels"]["k8s:k8s-app"] == "kube-dns"
    assert {p["protocol"] for p in egress["toPorts"][0]["ports"]} == {"UDP", "TCP"}


def test_owned_namespaces_are_isolated(prod):
    isolated = {p.inputs["metadata"]["namespace"]: p.inputs["spec"] for p in kind(prod, "CiliumNetworkPolicy")}
    assert {"metallb-system", "cert-manager", "edge"} <= set(isolated)
    edge = isolated["edge"]["ingress"][0]["fromEndpoints"]
    assert {} in edge  # the namespace itself
    assert {"matchLabels": {"k8s:io.kubernetes.pod.namespace": "envoy-gateway-system"}} in edge


def test_service_monitors_by_default_after_the_crds_and_off_with_the_flag(prod, run):
    cilium = chart(prod, "cilium")
    values = cilium.inputs["values"]
    assert values["prometheus"]["serviceMonitor"]["enabled"] is True
    assert values["hubble"]["metrics"]["serviceMonitor"]["enabled"] is True
    assert chart(prod, "metallb").inputs["values"]["prometheus"]["serviceMonitor"]["enabled"] is True
    assert chart(prod, "metrics-server").inputs["values"]["serviceMonitor"]["enabled"] is True
    # The charts that create them wait for the Prometheus Operator CRDs (installed before this layer).
    crds = chart(prod, "monitoring-crds")
    for name in ("cilium", "metallb", "metrics-server"):
        assert comes_after(prod, chart(prod, name), crds), name
    off = stack_values("prod")
    off["platform"]["observability"]["serviceMonitors"] = False
    rec = run(off, stack="prod")
    assert chart(rec, "cilium").inputs["values"]["prometheus"]["serviceMonitor"]["enabled"] is False
    assert chart(rec, "metrics-server").inputs["values"]["serviceMonitor"]["enabled"] is False


def test_every_networking_object_is_schema_valid(stack_recording):
    assert schema_problems(in_layer(stack_recording, "networking")) == []


def test_bad_service_monitor_flag_is_rejected():
    values = stack_values("prod")
    values["platform"]["observability"]["serviceMonitors"] = "sometimes"
    assert "platform.observability.serviceMonitors" in problems(values)
