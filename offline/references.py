"""Referential checks over the rendered Kubernetes objects, in the spirit of kube-linter's
dangling-service / dangling-ingress / dangling-HPA / dangling-NetworkPolicy checks.

Every Service selector, route backend, scale target, PDB and NetworkPolicy selector, webhook and
APIService backend, Gateway listener certificate, and every Secret, ConfigMap, PVC and ServiceAccount a
pod uses must resolve to an object the program (or one of its charts) creates, or to one that an operator
or controller the program deploys is known to create from another object (`PRODUCERS`: a cert-manager
Certificate produces its Secret, an ExternalSecret its target Secret, MetalLB's controller its memberlist
Secret, ...). No object may be registered twice (two Pulumi resources fighting over one object).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from offline.kinds import CLUSTER_SCOPED
from offline.schemas import ObjectProblem, object_ref

SYSTEM_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"})

Key = tuple[str, str, str]  # (kind, namespace or "", name)


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("metadata") or {}


def key_of(obj: dict[str, Any]) -> Key:
    kind = obj.get("kind", "")
    ns = "" if kind in CLUSTER_SCOPED else _meta(obj).get("namespace", "default")
    return kind, ns, _meta(obj).get("name", "")


# ------------------------------------------------------------------------------------------ producers
Producer = Callable[[dict[str, Any]], Iterable[Key]]
PRODUCERS: dict[str, Producer] = {}


def produces(kind: str) -> Callable[[Producer], Producer]:
    def register(fn: Producer) -> Producer:
        PRODUCERS[kind] = fn
        return fn

    return register


@produces("Certificate")
def _certificate(obj: dict[str, Any]) -> Iterable[Key]:
    secret = (obj.get("spec") or {}).get("secretName")
    return [("Secret", _meta(obj).get("namespace", "default"), secret)] if secret else []


# percona-xtradb-cluster-operator v1.20.0 creates the cluster's TLS Secrets `<name>-ssl` and `<name>-ssl-internal`
# (pkg/apis/pxc/v1/pxc_types.go defaults, pkg/controller/pxc/tls.go) unless the spec names its own.
@produces("PerconaXtraDBCluster")
def _pxc_tls(obj: dict[str, Any]) -> Iterable[Key]:
    spec, name, ns = obj.get("spec") or {}, _meta(obj).get("name"), _meta(obj).get("namespace", "default")
    return [("Secret", ns, spec.get("sslSecretName") or f"{name}-ssl"),
            ("Secret", ns, spec.get("sslInternalSecretName") or f"{name}-ssl-internal")]


@produces("ExternalSecret")
def _external_secret(obj: dict[str, Any]) -> Iterable[Key]:
    target = ((obj.get("spec") or {}).get("target") or {}).get("name") or _meta(obj).get("name")
    return [("Secret", _meta(obj).get("namespace", "default"), target)]


@produces("StatefulSet")
def _statefulset_claims(obj: dict[str, Any]) -> Iterable[Key]:
    spec = obj.get("spec") or {}
    name, ns = _meta(obj).get("name"), _meta(obj).get("namespace", "default")
    replicas = spec.get("replicas", 1)
    for template in spec.get("volumeClaimTemplates") or []:
        claim = _meta(template).get("name")
        yield from (("PersistentVolumeClaim", ns, f"{claim}-{name}-{i}") for i in range(replicas))


# Controllers that create a Secret named by an environment variable of their own container (read from
# the chart's templates): MetalLB's controller creates the speakers' memberlist key
# (metallb chart templates/controller.yaml: METALLB_ML_SECRET_NAME, RBAC `create secrets`).
SECRET_NAME_ENV = {"METALLB_ML_SECRET_NAME"}


# Controllers that create a Secret named by an argument of their own container: KEDA's operator generates its
# webhook and metrics-server certificates when `--enable-cert-rotation=true` (keda chart
# templates/manager/deployment.yaml: `--cert-secret-name`, RBAC `create secrets`).
SECRET_NAME_ARGS = {"--cert-secret-name": "--enable-cert-rotation=true"}


@produces("Deployment")
def _controller_secrets(obj: dict[str, Any]) -> Iterable[Key]:
    ns = _meta(obj).get("namespace", "default")
    spec = (pod_template(obj) or {}).get("spec") or {}
    for container in spec.get("containers") or []:
        for env in container.get("env") or []:
            if env.get("name") in SECRET_NAME_ENV and env.get("value"):
                yield "Secret", ns, env["value"]
        args = [str(a) for a in (container.get("args") or [])]
        for flag, enabled in SECRET_NAME_ARGS.items():
            for arg in args:
                if arg.startswith(f"{flag}=") and enabled in args:
                    yield "Secret", ns, arg.split("=", 1)[1]


# Workloads that exist without a workload object among ours: made by an operator the program deploys from a
# custom resource (kind -> the workloads it makes, as pseudo objects with a pod template or, for a bare pod,
# kind Pod), or by kubeadm (static control-plane pods and CoreDNS, labelled as kubeadm labels them; every
# cluster this program targets is kubeadm-built, kind included).
OperatorWorkloads = Callable[[dict[str, Any]], list[dict[str, Any]]]
OPERATOR_WORKLOADS: dict[str, OperatorWorkloads] = {}
KUBEADM_POD_LABELS: list[dict[str, str]] = [
    {"component": name, "tier": "control-plane"}
    for name in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
] + [{"k8s-app": "kube-dns"}, {"k8s-app": "kube-proxy"}]  # kube-proxy: only where kubeadm ran its addon (dev on kind)


def _pod(namespace: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"kind": "Pod", "metadata": {"namespace": namespace, "labels": labels}}


def _prometheus_operated(name_label: str, extra: Callable[[str], dict[str, str]]) -> OperatorWorkloads:
    """prometheus-operator v0.93's StatefulSet pod labels (pkg/prometheus/server/statefulset.go,
    pkg/alertmanager/statefulset.go), plus the resource's podMetadata labels."""

    def pods(obj: dict[str, Any]) -> list[dict[str, Any]]:
        name = _meta(obj).get("name", "")
        labels = {"app.kubernetes.io/name": name_label, "app.kubernetes.io/instance": name,
                  "app.kubernetes.io/managed-by": "prometheus-operator", **extra(name),
                  **(((obj.get("spec") or {}).get("podMetadata") or {}).get("labels") or {})}
        return [_pod(_meta(obj).get("namespace", "default"), labels)]

    return pods


def _rabbitmq_cluster(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """The RabbitMQ cluster operator's StatefulSet `<name>-server`, pods labelled with the cluster's name."""
    meta = _meta(obj)
    labels = {"app.kubernetes.io/name": meta.get("name", ""), "app.kubernetes.io/component": "rabbitmq",
              "app.kubernetes.io/part-of": "rabbitmq"}
    return [{"kind": "StatefulSet", "metadata": {"name": f"{meta.get('name')}-server", "namespace": meta.get("namespace", "default")},
             "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 1), "template": {"metadata": {"labels": labels}}}}]


OPERATOR_WORKLOADS.update({
    "Prometheus": _prometheus_operated(
        "prometheus", lambda name: {"prometheus": name, "operator.prometheus.io/name": name, "operator.prometheus.io/shard": "0"}),
    "Alertmanager": _prometheus_operated("alertmanager", lambda name: {"alertmanager": name}),
    "RabbitmqCluster": _rabbitmq_cluster,
})


# ------------------------------------------------------------------------------------------ index


def pod_template(obj: dict[str, Any]) -> dict[str, Any] | None:
    kind, spec = obj.get("kind"), obj.get("spec") or {}
    if kind == "Pod":
        return {"metadata": _meta(obj), "spec": spec}
    if kind == "CronJob":
        return ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template")
    if kind in WORKLOAD_KINDS:
        return spec.get("template")
    return None




# An object two release manifests both contain: the copy that is not the owner's carries this annotation
# (components/data/rabbitmq.py), is applied with the same content and retained on delete.
SHARED_COPY = "magento.io/owned-by"


class Index:
    def __init__(self, objects: Iterable[dict[str, Any]]):
        self.objects = list(objects)
        self.keys: set[Key] = {key_of(o) for o in self.objects}
        seen: set[Key] = set()
        self.duplicates: list[Key] = []
        for obj in self.objects:
            key = key_of(obj)
            if SHARED_COPY in (_meta(obj).get("annotations") or {}):
                continue  # a copy marked as another resource's object (applied alike, retained on delete)
            if key in seen:
                self.duplicates.append(key)
            seen.add(key)
        for obj in self.objects:
            producer = PRODUCERS.get(obj.get("kind", ""))
            if producer:
                self.keys.update(producer(obj))
        self.namespaces = set(SYSTEM_NAMESPACES)
        self.namespaces |= {name for kind, _, name in self.keys if kind == "Namespace"}
        self.workloads = [o for o in self.objects if pod_template(o) is not None]
        for obj in self.objects:  # workloads an operator the program deploys creates from a custom resource
            self.workloads.extend(OPERATOR_WORKLOADS.get(obj.get("kind", ""), lambda _: [])(obj))
        self.workloads += [_pod("kube-system", labels) for labels in KUBEADM_POD_LABELS]

    def exists(self, kind: str, namespace: str, name: str) -> bool:
        return (kind, "" if kind in CLUSTER_SCOPED else namespace, name) in self.keys

    def pods_matching(self, namespace: str, selector: dict[str, str]) -> list[dict[str, Any]]:
        found = []
        for workload in self.workloads:
            if _meta(workload).get("namespace", "default") != namespace:
                continue
            labels = _meta(pod_template(workload) or {}).get("labels") or {}
            if any(all({**labels, **extra}.get(k) == v for k, v in selector.items()) for extra in _controller_labels(workload)):
                found.append(workload)
        return found


def _controller_labels(workload: dict[str, Any]) -> list[dict[str, str]]:
    """Labels a controller adds to each pod: a StatefulSet's pods carry their name and index (one set per pod)."""
    if workload.get("kind") != "StatefulSet":
        return [{}]
    name, replicas = _meta(workload).get("name", ""), (workload.get("spec") or {}).get("replicas", 1)
    return [{"statefulset.kubernetes.io/pod-name": f"{name}-{i}", "apps.kubernetes.io/pod-index": str(i)}
            for i in range(int(replicas if isinstance(replicas, int) else 1))] or [{}]


def _match_labels(selector: dict[str, Any] | None) -> dict[str, str] | None:
    """matchLabels of a LabelSelector; None when it uses matchExpressions (not evaluated here)."""
    if selector is None:
        return {}
    if selector.get("matchExpressions"):
        return None
    return dict(selector.get("matchLabels") or {})


# ------------------------------------------------------------------------------------------ checks
Check = Callable[[dict[str, Any], Index], Iterator[str]]
CHECKS: dict[str, Check] = {}


def check(kind: str) -> Callable[[Check], Check]:
    def register(fn: Check) -> Check:
        CHECKS[kind] = fn
        return fn

    return register


# Pod labels a workload sets on its own pods at run time (so no template carries them): OpenBao and Vault with
# `service_registration "kubernetes"` label the active server `<name>-active: "true"` and standbys "false"
# (the openbao and vault charts' -active/-standby Services select on it).
RUNTIME_POD_LABELS = frozenset({"openbao-active", "vault-active"})


@check("Service")
def _service(obj: dict[str, Any], index: Index) -> Iterator[str]:
    selector = (obj.get("spec") or {}).get("selector")
    if selector:
        selector = {key: value for key, value in selector.items() if key not in RUNTIME_POD_LABELS}
    if selector and not index.pods_matching(_meta(obj).get("namespace", "default"), selector):
        yield f"selector {selector} matches no pods of any workload in its namespace"


@check("HTTPRoute")
def _httproute(obj: dict[str, Any], index: Index) -> Iterator[str]:
    ns = _meta(obj).get("namespace", "default")
    spec = obj.get("spec") or {}
    for parent in spec.get("parentRefs") or []:
        if parent.get("kind", "Gateway") == "Gateway" and not index.exists("Gateway", parent.get("namespace", ns), parent["name"]):
            yield f"parentRef Gateway {parent.get('namespace', ns)}/{parent['name']} does not exist"
    for rule in spec.get("rules") or []:
        for backend in rule.get("backendRefs") or []:
            kind = backend.get("kind", "Service")
            if kind == "Service" and not index.exists("Service", backend.get("namespace", ns), backend["name"]):
                yield f"backendRef Service {backend.get('namespace', ns)}/{backend['name']} does not exist"


def _scale_target(obj: dict[str, Any], index: Index) -> Iterator[str]:
    ref = (obj.get("spec") or {}).get("scaleTargetRef") or {}
    kind = ref.get("kind", "Deployment")
    ns = _meta(obj).get("namespace", "default")
    if not index.exists(kind, ns, ref.get("name", "")):
        yield f"scaleTargetRef {kind} {ns}/{ref.get('name')} does not exist"


def _webhook_services(obj: dict[str, Any], index: Index) -> Iterator[str]:
    for hook in obj.get("webhooks") or []:
        service = (hook.get("clientConfig") or {}).get("service")
        if service and not index.exists("Service", service.get("namespace", "default"), service.get("name", "")):
            yield f"webhook {hook.get('name')} calls Service {service.get('namespace')}/{service.get('name')}, which does not exist"


CHECKS["ValidatingWebhookConfiguration"] = _webhook_services
CHECKS["MutatingWebhookConfiguration"] = _webhook_services


@check("APIService")
def _api_service(obj: dict[str, Any], index: Index) -> Iterator[str]:
    service = (obj.get("spec") or {}).get("service")
    if service and not index.exists("Service", service.get("namespace", "default"), service.get("name", "")):
        yield f"serves through Service {service.get('namespace')}/{service.get('name')}, which does not exist"


@check("Gateway")
def _gateway_certificates(obj: dict[str, Any], index: Index) -> Iterator[str]:
    ns = _meta(obj).get("namespace", "default")
    for listener in (obj.get("spec") or {}).get("listeners") or []:
        for ref in (listener.get("tls") or {}).get("certificateRefs") or []:
            if ref.get("kind", "Secret") == "Secret" and not index.exists("Secret", ref.get("namespace", ns), ref["name"]):
                yield (f"listener {listener.get('name')} serves Secret {ref.get('namespace', ns)}/{ref['name']}, which "
                       "neither the program nor a Certificate creates")


# The Secrets opensearch-operator 2.8.0 mounts or reads for an OpenSearchCluster (pkg/reconcilers/tls.go: the TLS
# Secrets; securityconfig.go: securityconfig and the admin certificate of the securityconfig Job; the keystore):
# a missing one leaves the nodes Pending or the Job failing.
def _opensearch_secrets(spec: dict[str, Any]) -> Iterator[tuple[str, str]]:
    security = spec.get("security") or {}
    for layer in ("transport", "http"):
        for field in ("secret", "caSecret"):
            yield f"tls.{layer}.{field}", ((((security.get("tls") or {}).get(layer) or {}).get(field)) or {}).get("name", "")
    for field in ("securityConfigSecret", "adminCredentialsSecret", "adminSecret"):
        yield f"config.{field}", (((security.get("config") or {}).get(field)) or {}).get("name", "")
    for entry in (spec.get("general") or {}).get("keystore") or []:
        yield "general.keystore", (entry.get("secret") or {}).get("name", "")


@check("OpenSearchCluster")
def _opensearch_cluster(obj: dict[str, Any], index: Index) -> Iterator[str]:
    ns = _meta(obj).get("namespace", "default")
    for field, name in _opensearch_secrets(obj.get("spec") or {}):
        if name and not index.exists("Secret", ns, name):
            yield f"{field} names Secret {ns}/{name}, which neither the program nor a Certificate creates"


@check("Certificate")
def _certificate_issuer(obj: dict[str, Any], index: Index) -> Iterator[str]:
    """A namespaced Issuer must be in the Certificate's namespace (ClusterIssuers are not checked here)."""
    ref = (obj.get("spec") or {}).get("issuerRef") or {}
    ns = _meta(obj).get("namespace", "default")
    if ref.get("kind", "Issuer") == "Issuer" and ref.get("group", "cert-manager.io") == "cert-manager.io" \
            and not index.exists("Issuer", ns, ref.get("name", "")):
        yield f"is issued by Issuer {ref.get('name')}, which does not exist in {ns}"


CHECKS["HorizontalPodAutoscaler"] = _scale_target
CHECKS["ScaledObject"] = _scale_target


@check("PodDisruptionBudget")
def _pdb(obj: dict[str, Any], index: Index) -> Iterator[str]:
    labels = _match_labels((obj.get("spec") or {}).get("selector"))
    if labels is not None and not index.pods_matching(_meta(obj).get("namespace", "default"), labels):
        yield f"selector {labels} matches no pods of any workload in its namespace"


@check("NetworkPolicy")
def _network_policy(obj: dict[str, Any], index: Index) -> Iterator[str]:
    labels = _match_labels((obj.get("spec") or {}).get("podSelector"))
    if labels and not index.pods_matching(_meta(obj).get("namespace", "default"), labels):
        yield f"podSelector {labels} matches no pods of any workload in its namespace"


def _pod_references(obj: dict[str, Any], index: Index) -> Iterator[str]:
    template = pod_template(obj)
    if template is None:
        return
    ns = _meta(obj).get("namespace", "default")
    spec = template.get("spec") or {}
    claim_templates = {_meta(t).get("name") for t in (obj.get("spec") or {}).get("volumeClaimTemplates") or []}
    refs: list[tuple[str, str]] = []
    for volume in spec.get("volumes") or []:
        if "secret" in volume:
            if not volume["secret"].get("optional"):
                refs.append(("Secret", volume["secret"]["secretName"]))
        elif "configMap" in volume:
            if not volume["configMap"].get("optional"):
                refs.append(("ConfigMap", volume["configMap"]["name"]))
        elif "persistentVolumeClaim" in volume:
            claim = volume["persistentVolumeClaim"]["claimName"]
            if claim not in claim_templates:
                refs.append(("PersistentVolumeClaim", claim))
    for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        for env in container.get("env") or []:
            source = env.get("valueFrom") or {}
            for key, kind in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
                if key in source and not source[key].get("optional"):
                    refs.append((kind, source[key]["name"]))
        for env_from in container.get("envFrom") or []:
            for key, kind in (("secretRef", "Secret"), ("configMapRef", "ConfigMap")):
                if key in env_from and not env_from[key].get("optional"):
                    refs.append((kind, env_from[key]["name"]))
    for pull in spec.get("imagePullSecrets") or []:
        refs.append(("Secret", pull["name"]))
    account = spec.get("serviceAccountName")
    if account and account != "default":
        refs.append(("ServiceAccount", account))
    for kind, name in refs:
        if not index.exists(kind, ns, name):
            yield f"uses {kind} {ns}/{name}, which neither the program nor a known operator creates"


for _kind in WORKLOAD_KINDS:
    CHECKS.setdefault(_kind, _pod_references)


def check_references(objects: Iterable[dict[str, Any]], charts: dict[str, str] | None = None) -> list[ObjectProblem]:
    """All dangling references among the objects, and charts (release -> namespace) installed into
    namespaces the program does not create."""
    index = Index(objects)
    problems: list[ObjectProblem] = [
        ObjectProblem(f"chart {release}", f"namespace {ns} is neither created by the program nor a system namespace")
        for release, ns in sorted((charts or {}).items())
        if ns not in index.namespaces
    ]
    problems += [
        ObjectProblem(f"{kind} {ns + '/' if ns else ''}{name}", "is registered by two resources (they would fight over it)")
        for kind, ns, name in index.duplicates
    ]
    for obj in index.objects:
        kind, ns, _ = key_of(obj)
        if ns and ns not in index.namespaces:
            problems.append(ObjectProblem(object_ref(obj), f"namespace {ns} is neither created by the program nor a system namespace"))
        fn = CHECKS.get(kind)
        if fn:
            problems.extend(ObjectProblem(object_ref(obj), message) for message in fn(obj, index))
    return problems
