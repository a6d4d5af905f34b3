"""The pods a recorded stack will run, as the scheduler sees them: requests, replicas, autoscaler maxima,
where they may go (tolerations, node selectors and affinity, topology spread, anti-affinity) and the
volumes they claim.

Three sources, all from the recording:

- every workload object, the program's own and every one its charts and manifests render (Deployment,
  StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, Pod), sized as `offline/summary.py` sizes them;
- the pods operators create from custom resources we register (Percona XtraDB Cluster, OpenSearch,
  RabbitMQ, the Envoy proxies of a Gateway), from the custom resource's own fields and the operator's
  defaults where a field is left out (each default says where it was seen);
- HorizontalPodAutoscalers, KEDA ScaledObjects and an EnvoyProxy's HPA, which give a workload the replica
  count it runs at rest (the minimum) and at its maximum.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from components.config.types import parse_quantity
from offline.engine import Recorded, Recording
from offline.references import pod_template
from offline.summary import _pod_totals, replicas_of

HOST_KEY = "kubernetes.io/hostname"


@dataclass
class Workload:
    """One group of identical pods."""

    layer: str
    kind: str
    namespace: str
    name: str
    source: str  # "program", "chart <release>" or "operator (<kind> <name>)"
    cpu: Decimal
    memory: Decimal
    cpu_limit: Decimal
    memory_limit: Decimal
    replicas: int
    maximum: int
    daemon: bool = False
    site: str | None = None
    autoscaler: str | None = None
    tolerations: list[dict[str, Any]] = field(default_factory=list)
    node_selector: dict[str, str] = field(default_factory=dict)
    node_terms: list[list[dict[str, Any]]] = field(default_factory=list)  # required node affinity: OR of ANDs
    spread: list[dict[str, Any]] = field(default_factory=list)  # hard topology spread constraints
    anti_affinity_keys: list[str] = field(default_factory=list)  # required anti-affinity on itself, per topology key
    claims: list[tuple[str, Decimal, str | None]] = field(default_factory=list)  # per pod: (claim, bytes, class)

    @property
    def label(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


def _site_of(namespace: str, labels: dict[str, str]) -> str | None:
    if labels.get("magento.io/site"):
        return labels["magento.io/site"]
    return namespace[len("site-"):] if namespace.startswith("site-") else None


def _q(value: Any) -> Decimal:
    return parse_quantity(str(value)) if value is not None else Decimal(0)


def _resources(resources: dict[str, Any] | None) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    resources = resources or {}
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
    return _q(requests.get("cpu")), _q(requests.get("memory")), _q(limits.get("cpu")), _q(limits.get("memory"))


def _own_anti_affinity(affinity: dict[str, Any], labels: dict[str, str]) -> list[str]:
    keys = []
    for term in ((affinity.get("podAntiAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution") or []):
        match = ((term.get("labelSelector") or {}).get("matchLabels")) or {}
        if match and all(labels.get(k) == v for k, v in match.items()):
            keys.append(term.get("topologyKey", HOST_KEY))
    return keys


def _node_terms(affinity: dict[str, Any]) -> list[list[dict[str, Any]]]:
    required = ((affinity.get("nodeAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    return [list(term.get("matchExpressions") or []) for term in required.get("nodeSelectorTerms") or []]


def _hard_spread(constraints: list[dict[str, Any]] | None, labels: dict[str, str]) -> list[dict[str, Any]]:
    out = []
    for c in constraints or []:
        match = ((c.get("labelSelector") or {}).get("matchLabels")) or {}
        if c.get("whenUnsatisfiable") == "DoNotSchedule" and match and all(labels.get(k) == v for k, v in match.items()):
            out.append(c)
    return out


def _placement(workload: Workload, pod_spec: dict[str, Any], labels: dict[str, str]) -> Workload:
    affinity = pod_spec.get("affinity") or {}
    workload.tolerations = list(pod_spec.get("tolerations") or [])
    workload.node_selector = dict(pod_spec.get("nodeSelector") or {})
    workload.node_terms = _node_terms(affinity)
    workload.spread = _hard_spread(pod_spec.get("topologySpreadConstraints"), labels)
    workload.anti_affinity_keys = _own_anti_affinity(affinity, labels)
    return workload


def _claims(obj: dict[str, Any], template: dict[str, Any], claims: dict[tuple[str, str], dict[str, Any]]) -> list:
    """Volume claims per pod: a StatefulSet's claim templates, and the PVCs its pod volumes name."""
    namespace = (obj.get("metadata") or {}).get("namespace") or "default"
    out = []
    for claim in (obj.get("spec") or {}).get("volumeClaimTemplates") or [] if obj.get("kind") == "StatefulSet" else []:
        spec = claim.get("spec") or {}
        out.append(((claim.get("metadata") or {}).get("name", "data"),
                    _q(((spec.get("resources") or {}).get("requests") or {}).get("storage")), spec.get("storageClassName")))
    for volume in (template.get("spec") or {}).get("volumes") or []:
        name = (volume.get("persistentVolumeClaim") or {}).get("claimName")
        pvc = claims.pop((namespace, name), None) if name else None
        if pvc is not None:
            spec = pvc.get("spec") or {}
            out.append((name, _q(((spec.get("resources") or {}).get("requests") or {}).get("storage")), spec.get("storageClassName")))
    return out


def _from_object(record: Recorded, recording: Recording, nodes: int, claims: dict) -> Workload | None:
    obj = record.inputs
    template = pod_template(obj)
    if template is None:
        return None
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace") or "default"
    labels = (template.get("metadata") or {}).get("labels") or {}
    requests, limits = _pod_totals(template, "requests"), _pod_totals(template, "limits")
    daemon = obj.get("kind") == "DaemonSet"
    count = 1 if daemon else replicas_of(obj, nodes)
    source = "program"
    if record.rendered_by:
        source = f"chart {recording.by_urn[record.rendered_by].inputs.get('name') or recording.by_urn[record.rendered_by].name}"
    workload = Workload(
        layer=recording.layer_of(record), kind=obj["kind"], namespace=namespace, name=meta.get("name", record.name),
        source=source, cpu=requests["cpu"], memory=requests["memory"], cpu_limit=limits["cpu"],
        memory_limit=limits["memory"], replicas=count, maximum=count, daemon=daemon,
        site=_site_of(namespace, meta.get("labels") or {}),
    )
    _placement(workload, template.get("spec") or {}, labels)
    workload.claims = _claims(obj, template, claims)
    return workload


# ------------------------------------------------------------------------------------- operator pods

# Percona operator: pxc.affinity.antiAffinityTopologyKey defaults to kubernetes.io/hostname (required
# anti-affinity; pxc-operator 1.20 docs, "Binding Percona XtraDB Cluster components to specific nodes").
PXC_DEFAULT_ANTI_AFFINITY = HOST_KEY
# RabbitmqCluster defaults, seen in the rabbitmq.com/v1beta1 CRD schema (cluster-operator 2.22):
RABBITMQ_DEFAULT_RESOURCES = {"requests": {"cpu": "1000m", "memory": "2Gi"}, "limits": {"cpu": "2000m", "memory": "2Gi"}}
RABBITMQ_DEFAULT_STORAGE = "10Gi"
# Envoy Gateway 1.9 defaults for the proxy Deployment (api/v1alpha1 DefaultEnvoyProxy...): envoy container
# requests 100m / 512Mi, shutdown-manager requests 10m / 32Mi, one replica.
ENVOY_DEFAULT_RESOURCES = {"requests": {"cpu": "100m", "memory": "512Mi"}}
ENVOY_SHUTDOWN_MANAGER = {"requests": {"cpu": "10m", "memory": "32Mi"}}


def _operator_workload(record: Recorded, recording: Recording, name: str, replicas: int,
                       resources: list[dict[str, Any] | None], spec: dict[str, Any]) -> Workload:
    meta = record.inputs.get("metadata") or {}
    namespace = meta.get("namespace") or "default"
    totals = [_resources(r) for r in resources]
    workload = Workload(
        layer=recording.layer_of(record), kind="Pod", namespace=namespace, name=name,
        source=f"operator ({record.inputs['kind']} {meta.get('name')})",
        cpu=sum((t[0] for t in totals), Decimal(0)), memory=sum((t[1] for t in totals), Decimal(0)),
        cpu_limit=sum((t[2] for t in totals), Decimal(0)), memory_limit=sum((t[3] for t in totals), Decimal(0)),
        replicas=replicas, maximum=replicas, site=_site_of(namespace, meta.get("labels") or {}),
    )
    labels = {"operator/owner": f"{namespace}/{name}"}
    affinity = dict(spec.get("affinity") or {})
    pod = {"tolerations": spec.get("tolerations"), "nodeSelector": spec.get("nodeSelector"), "affinity": affinity,
           "topologySpreadConstraints": spec.get("topologySpreadConstraints")}
    _placement(workload, pod, labels)
    return workload


def _pxc(record: Recorded, recording: Recording) -> list[Workload]:
    spec = record.inputs.get("spec") or {}
    name = (record.inputs.get("metadata") or {}).get("name", record.name)
    out = []
    pxc = spec.get("pxc") or {}
    sidecars = [(spec.get("logcollector") or {}).get("resources")] if (spec.get("logcollector") or {}).get("enabled") else []
    if (spec.get("pmm") or {}).get("enabled"):
        sidecars.append((spec.get("pmm") or {}).get("resources"))
    sidecars += [s.get("resources") for s in pxc.get("sidecars") or []]
    members = _operator_workload(record, recording, f"{name}-pxc", int(pxc.get("size", 3)), [pxc.get("resources"), *sidecars], pxc)
    key = ((pxc.get("affinity") or {}).get("antiAffinityTopologyKey")) or PXC_DEFAULT_ANTI_AFFINITY
    if key != "none":
        members.anti_affinity_keys.append(key)
    storage = ((((pxc.get("volumeSpec") or {}).get("persistentVolumeClaim") or {}).get("resources") or {}).get("requests") or {})
    if storage.get("storage"):
        pvc = (pxc.get("volumeSpec") or {}).get("persistentVolumeClaim") or {}
        members.claims.append(("datadir", _q(storage["storage"]), pvc.get("storageClassName")))
    out.append(members)
    for proxy in ("haproxy", "proxysql"):
        part = spec.get(proxy) or {}
        if part.get("enabled"):
            workload = _operator_workload(record, recording, f"{name}-{proxy}", int(part.get("size", 3)), [part.get("resources")], part)
            key = ((part.get("affinity") or {}).get("antiAffinityTopologyKey")) or PXC_DEFAULT_ANTI_AFFINITY
            if key != "none":
                workload.anti_affinity_keys.append(key)
            out.append(workload)
    return out


def _opensearch(record: Recorded, recording: Recording) -> list[Workload]:
    spec = record.inputs.get("spec") or {}
    name = (record.inputs.get("metadata") or {}).get("name", record.name)
    out = []
    for pool in spec.get("nodePools") or []:
        workload = _operator_workload(record, recording, f"{name}-{pool.get('component', 'nodes')}", int(pool.get("replicas", 1)),
                                      [pool.get("resources")], pool)
        persistence = pool.get("persistence") or {"pvc": {}}
        if "pvc" in persistence and pool.get("diskSize"):
            workload.claims.append(("data", _q(pool["diskSize"]), (persistence.get("pvc") or {}).get("storageClass")))
        out.append(workload)
    dashboards = spec.get("dashboards") or {}
    if dashboards.get("enable"):
        out.append(_operator_workload(record, recording, f"{name}-dashboards", int(dashboards.get("replicas", 1)),
                                      [dashboards.get("resources")], dashboards))
    return out


def _rabbitmq(record: Recorded, recording: Recording) -> list[Workload]:
    spec = record.inputs.get("spec") or {}
    name = (record.inputs.get("metadata") or {}).get("name", record.name)
    workload = _operator_workload(record, recording, f"{name}-server", int(spec.get("replicas", 1)),
                                  [spec.get("resources") or RABBITMQ_DEFAULT_RESOURCES], spec)
    persistence = spec.get("persistence") or {}
    workload.claims.append(("persistence", _q(persistence.get("storage", RABBITMQ_DEFAULT_STORAGE)), persistence.get("storageClassName")))
    return [workload]


def _envoy(record: Recorded, recording: Recording, proxies: dict[tuple[str, str], Recorded]) -> list[Workload]:
    """The proxy Deployment Envoy Gateway creates for a Gateway, shaped by the EnvoyProxy it references."""
    spec = record.inputs.get("spec") or {}
    meta = record.inputs.get("metadata") or {}
    ref = ((spec.get("infrastructure") or {}).get("parametersRef")) or {}
    proxy = proxies.get((meta.get("namespace") or "default", ref.get("name", ""))) if ref.get("kind") == "EnvoyProxy" else None
    kubernetes = (((proxy.inputs.get("spec") or {}).get("provider") or {}).get("kubernetes") or {}) if proxy else {}
    deployment = kubernetes.get("envoyDeployment") or {}
    container = (deployment.get("container") or {}).get("resources") or ENVOY_DEFAULT_RESOURCES
    workload = _operator_workload(record, recording, f"envoy-{meta.get('name')}", int(deployment.get("replicas", 1)),
                                  [container, ENVOY_SHUTDOWN_MANAGER], deployment.get("pod") or {})
    workload.source = f"operator (Envoy Gateway, Gateway {meta.get('name')})"
    hpa = kubernetes.get("envoyHpa") or {}
    if hpa:
        workload.replicas = int(hpa.get("minReplicas", 1))
        workload.maximum = int(hpa.get("maxReplicas", workload.replicas))
        workload.autoscaler = f"EnvoyProxy HPA {workload.replicas}-{workload.maximum}"
    return [workload]


def _prometheus_operated(record: Recorded, recording: Recording) -> list[Workload]:
    """Prometheus and Alertmanager pods (prometheus-operator StatefulSets `<kind>-<name>`): the resource's
    `replicas` and `resources`; the operator's config-reloader sidecar (10m / 32Mi in this program) is left out."""
    spec = record.inputs.get("spec") or {}
    name = f"{record.inputs['kind'].lower()}-{(record.inputs.get('metadata') or {}).get('name')}"
    workload = _operator_workload(record, recording, name, int(spec.get("replicas", 1)), [spec.get("resources")], spec)
    claim = ((spec.get("storage") or spec.get("storageSpec") or {}).get("volumeClaimTemplate") or {}).get("spec") or {}
    if claim:
        workload.claims.append(("data", _q(claim["resources"]["requests"]["storage"]), claim.get("storageClassName")))
    return [workload]


OPERATOR_KINDS = {"PerconaXtraDBCluster": _pxc, "OpenSearchCluster": _opensearch, "RabbitmqCluster": _rabbitmq,
                  "Prometheus": _prometheus_operated, "Alertmanager": _prometheus_operated}


# --------------------------------------------------------------------------------------- autoscalers

def _autoscale(workloads: list[Workload], objects: list[dict[str, Any]]) -> None:
    by_key = {(w.kind, w.namespace, w.name): w for w in workloads}
    for obj in objects:
        kind, spec = obj.get("kind"), obj.get("spec") or {}
        namespace = (obj.get("metadata") or {}).get("namespace") or "default"
        name = (obj.get("metadata") or {}).get("name")
        if kind == "HorizontalPodAutoscaler":
            low, high = int(spec.get("minReplicas", 1)), int(spec.get("maxReplicas", 1))
        elif kind == "ScaledObject":  # KEDA defaults: minReplicaCount 0, maxReplicaCount 100
            low, high = int(spec.get("minReplicaCount", 0)), int(spec.get("maxReplicaCount", 100))
        else:
            continue
        target = spec.get("scaleTargetRef") or {}
        workload = by_key.get((target.get("kind", "Deployment"), namespace, target.get("name")))
        if workload is not None:
            workload.replicas, workload.maximum = low, max(high, low)
            workload.autoscaler = f"{kind} {name} {low}-{high}"


def workloads(recording: Recording, nodes: int) -> tuple[list[Workload], list[tuple[str, Decimal, str | None, str]]]:
    """Every group of pods the stack runs, and the claims no pod mounts (namespace/name, bytes, class, layer)."""
    objects = recording.kubernetes_objects()
    claims = {((r.inputs.get("metadata") or {}).get("namespace") or "default", (r.inputs.get("metadata") or {}).get("name")): r.inputs
              for r in objects if r.inputs.get("kind") == "PersistentVolumeClaim"}
    layers = {((r.inputs.get("metadata") or {}).get("namespace") or "default", (r.inputs.get("metadata") or {}).get("name")):
              recording.layer_of(r) for r in objects if r.inputs.get("kind") == "PersistentVolumeClaim"}
    proxies = {((r.inputs.get("metadata") or {}).get("namespace") or "default", (r.inputs.get("metadata") or {}).get("name")): r
               for r in objects if r.inputs.get("kind") == "EnvoyProxy"}
    out: list[Workload] = []
    for record in objects:
        kind = record.inputs.get("kind")
        if kind in OPERATOR_KINDS:
            out += OPERATOR_KINDS[kind](record, recording)
        elif kind == "Gateway" and str(record.inputs.get("apiVersion", "")).startswith("gateway.networking.k8s.io/"):
            out += _envoy(record, recording, proxies)
        else:
            workload = _from_object(record, recording, nodes, claims)
            if workload is not None:
                out.append(workload)
    _autoscale(out, [r.inputs for r in objects])
    unmounted = [(f"{ns}/{name}", _q(((pvc.get("spec") or {}).get("resources") or {}).get("requests", {}).get("storage")),
                  (pvc.get("spec") or {}).get("storageClassName"), layers[(ns, name)]) for (ns, name), pvc in claims.items()]
    return out, unmounted
