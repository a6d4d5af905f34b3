"""The `admission` check: the program's Kyverno ValidatingPolicies evaluated on every object they would match.

Kyverno 1.19 (kyverno/kyverno v1.19.0) is followed where it decides what is evaluated:

- a policy matches a CREATE of an object whose group, version and resource one of its
  `matchConstraints.resourceRules` names (`*` included), in a namespace whose labels its
  `namespaceSelector` selects (the labels of the plan's Namespace objects), whose labels its `objectSelector`
  selects, and for which every `matchConditions` expression is true;
- autogen (pkg/cel/policies/vpol/autogen/autogen.go, pkg/cel/autogen/{support,data,match,replacement}.go): a
  policy whose only resource rule is `pods` in the core group `v1`, with no object selector, no exclusions and
  no resource names, is also compiled for DaemonSets, Deployments, ReplicaSets, StatefulSets and Jobs (the
  `defaults` replacements: `object.spec` -> `object.spec.template.spec`, `object.metadata` ->
  `object.spec.template.metadata`) and CronJobs (`cronjobs`: `object.spec.jobTemplate.spec.template...`),
  or only for `spec.autogen.podControllers.controllers` when set; the replacement is applied to the JSON of the
  whole spec, leaving `object.metadata.namespace` alone, with the policy's operations and namespace selector;
- each validation is evaluated in order (pkg/cel/policies/vpol/compiler/policy.go): `false` denies with its
  message (or its `messageExpression`), an evaluation error is an error, which `failurePolicy: Fail` makes a
  denial (`Ignore`: admitted, reported as a note); only `validationActions` with `Deny` refuse the object
  (`Audit`/`Warn` only report: a note).

Every expression is compiled once (offline/cel_eval.py). Not covered: Kyverno's own runtime (its webhook
configuration, its resourceFilters, background scans), API-server defaulting and mutating webhooks that
change a pod before Kyverno sees it, and pods created by operators from custom resources (not in the plan).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from offline.cel_eval import CelCompileError, compile_expression, evaluate
from offline.engine import Recording

POLICY_KINDS = {("policies.kyverno.io", "ValidatingPolicy")}
# kind -> (group, version, resource) for the kinds a policy of ours can match (pods and autogen's targets).
RESOURCES = {
    "Pod": ("", "v1", "pods"),
    "DaemonSet": ("apps", "v1", "daemonsets"), "Deployment": ("apps", "v1", "deployments"),
    "ReplicaSet": ("apps", "v1", "replicasets"), "StatefulSet": ("apps", "v1", "statefulsets"),
    "Job": ("batch", "v1", "jobs"), "CronJob": ("batch", "v1", "cronjobs"),
}
# Kyverno's pkg/cel/autogen/data.go: controller -> replacements set.
AUTOGEN_CONTROLLERS = {"daemonsets": "defaults", "deployments": "defaults", "replicasets": "defaults",
                       "statefulsets": "defaults", "jobs": "defaults", "cronjobs": "cronjobs"}
REPLACEMENTS = {
    "defaults": [("spec", "spec.template.spec"), ("metadata", "spec.template.metadata")],
    "cronjobs": [("spec", "spec.jobTemplate.spec.template.spec"), ("metadata", "spec.jobTemplate.spec.template.metadata")],
}
PROTECTED_SUFFIXES = (".namespace",)


@dataclass(frozen=True)
class CompiledPolicy:
    name: str
    autogen: str | None  # None: the policy as written; else the replacements set ("defaults", "cronjobs")
    spec: dict[str, Any]

    @property
    def label(self) -> str:
        return f"ValidatingPolicy {self.name}" + (f" (autogen {self.autogen})" if self.autogen else "")


# ------------------------------------------------------------------------------------------ autogen
def _replace(text: str, old: str, new: str) -> str:
    """Kyverno's replace(): every `old` becomes `new` unless followed by a protected suffix as a whole segment."""
    out, rest = [], text
    while (index := rest.find(old)) >= 0:
        out.append(rest[:index])
        after = rest[index + len(old):]
        protected = any(after.startswith(s) and (len(after) == len(s) or not (after[len(s)].isalnum() or after[len(s)] == "_"))
                        for s in PROTECTED_SUFFIXES)
        out.append(old if protected else new)
        rest = after
    return "".join(out) + rest


def rewrite(spec: dict[str, Any], replacements: str) -> dict[str, Any]:
    """The spec with autogen's replacements applied to its JSON, for `object.` and `oldObject.` alike."""
    data = json.dumps(spec)
    for old, new in REPLACEMENTS[replacements]:
        for root in ("object.", "oldObject."):
            data = _replace(data, root + old, root + new)
    return json.loads(data)


def can_autogen(match: dict[str, Any] | None) -> bool:
    if not match:
        return False
    selector = match.get("objectSelector") or {}
    if selector.get("matchLabels") or selector.get("matchExpressions"):
        return False
    rules = match.get("resourceRules") or []
    if match.get("excludeResourceRules") or len(rules) != 1:
        return False
    rule = rules[0]
    return (not rule.get("resourceNames") and rule.get("apiGroups") == [""] and rule.get("apiVersions") == ["v1"]
            and rule.get("resources") == ["pods"])


def autogen_policies(name: str, spec: dict[str, Any]) -> list[CompiledPolicy]:
    """The policy as written and, when Kyverno would generate them, its pod-controller variants."""
    policies = [CompiledPolicy(name, None, spec)]
    match = spec.get("matchConstraints")
    if not can_autogen(match):
        return policies
    controllers = ((spec.get("autogen") or {}).get("podControllers") or {}).get("controllers")
    chosen = set(AUTOGEN_CONTROLLERS) if controllers is None else set(controllers) & set(AUTOGEN_CONTROLLERS)
    by_set: dict[str, list[str]] = {}
    for controller in sorted(chosen):
        by_set.setdefault(AUTOGEN_CONTROLLERS[controller], []).append(controller)
    for replacements, resources in sorted(by_set.items()):
        generated = dict(spec)
        operations = match["resourceRules"][0].get("operations") or []
        groups: dict[tuple[str, str], list[str]] = {}
        for group, version, resource in RESOURCES.values():
            if resource in resources:
                groups.setdefault((group, version), []).append(resource)
        generated["matchConstraints"] = {
            "resourceRules": [{"apiGroups": [g], "apiVersions": [v], "resources": sorted(r), "operations": operations}
                              for (g, v), r in sorted(groups.items())],
            **({"namespaceSelector": match["namespaceSelector"]} if match.get("namespaceSelector") is not None else {}),
        }
        policies.append(CompiledPolicy(name, replacements, rewrite(generated, replacements)))
    return policies


# ------------------------------------------------------------------------------------------ matching
def selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """A metav1.LabelSelector; an absent or empty selector selects everything."""
    if not selector:
        return True
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression.get("key"), expression.get("operator"), expression.get("values") or []
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def _rule_matches(rule: dict[str, Any], group: str, version: str, resource: str, operation: str, name: str) -> bool:
    def has(values: list[str] | None, value: str) -> bool:
        return bool(values) and ("*" in values or value in values)

    return (has(rule.get("apiGroups"), group) and has(rule.get("apiVersions"), version)
            and has(rule.get("resources"), resource) and has(rule.get("operations"), operation)
            and (not rule.get("resourceNames") or name in rule["resourceNames"]))


def matches_constraints(match: dict[str, Any], obj: dict[str, Any], namespace_labels: dict[str, str] | None) -> bool:
    kind, api_version = obj.get("kind"), str(obj.get("apiVersion", ""))
    if kind not in RESOURCES:
        return False
    group, version, resource = RESOURCES[kind]
    if api_version != (f"{group}/{version}" if group else version):
        return False
    meta = obj.get("metadata") or {}
    name = str(meta.get("name", ""))
    if not any(_rule_matches(r, group, version, resource, "CREATE", name) for r in match.get("resourceRules") or []):
        return False
    if any(_rule_matches(r, group, version, resource, "CREATE", name) for r in match.get("excludeResourceRules") or []):
        return False
    labels = meta.get("labels") or {}
    if not selects(match.get("objectSelector"), labels):
        return False
    return selects(match.get("namespaceSelector"), namespace_labels or {})


# ------------------------------------------------------------------------------------------ evaluation
@dataclass(frozen=True)
class Verdict:
    policy: str
    message: str
    denied: bool  # False: reported only (Audit/Warn, or an error under failurePolicy Ignore)


def admission_data(obj: dict[str, Any], namespace: dict[str, Any] | None) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    group, version, resource = RESOURCES[obj["kind"]]
    request = {"operation": "CREATE", "kind": {"group": group, "version": version, "kind": obj["kind"]},
               "resource": {"group": group, "version": version, "resource": resource},
               "name": meta.get("name", ""), "namespace": meta.get("namespace", ""), "dryRun": False}
    return {"object": obj, "oldObject": None, "request": request, "namespaceObject": namespace, "variables": {}}


def evaluate_policy(policy: CompiledPolicy, obj: dict[str, Any], namespace: dict[str, Any] | None) -> list[Verdict]:
    """What Kyverno's admission of `obj` (a CREATE) under this policy returns: nothing if admitted or not matched."""
    spec = policy.spec
    labels = ((namespace or {}).get("metadata") or {}).get("labels") or {}
    if not matches_constraints(spec.get("matchConstraints") or {}, obj, labels if namespace else None):
        return []
    deny = "Deny" in (spec.get("validationActions") or [])
    fail = spec.get("failurePolicy", "Fail") != "Ignore"
    data = admission_data(obj, namespace)
    conditions = [evaluate(c["expression"], data) for c in spec.get("matchConditions") or []]
    if any(c.error is None and c.value is False for c in conditions):
        return []
    if errors := [c.error for c in conditions if c.error]:
        return [Verdict(policy.label, f"matchConditions error: {errors[0]}", fail)]
    variables: dict[str, Any] = {}
    for variable in spec.get("variables") or []:
        outcome = evaluate(variable["expression"], {**data, "variables": variables}, want="any")
        if outcome.error is None:
            variables[variable["name"]] = outcome.value  # a failed variable stays absent: using it is an error
    data["variables"] = variables
    for index, validation in enumerate(spec.get("validations") or []):
        outcome = evaluate(validation["expression"], data)
        if outcome.error:
            expression = validation["expression"]
            shown = expression if len(expression) <= 80 else expression[:77] + "..."
            return [Verdict(policy.label, f"validation {index} ({shown}) errors: {outcome.error}", fail)]
        if outcome.value is False:
            message = validation.get("message") or f"CEL expression validation failed at index {index}"
            if validation.get("messageExpression"):
                text = evaluate(validation["messageExpression"], data, want="string")
                message = text.value if text.error is None else f"failed to evaluate message expression: {text.error}"
            return [Verdict(policy.label, message, deny)]
    return []


def recorded_policies(recording: Recording) -> list[CompiledPolicy]:
    found = []
    for record in recording.kubernetes_objects():
        api_version, kind = str(record.inputs.get("apiVersion", "")), record.inputs.get("kind")
        if (api_version.split("/")[0], kind) in POLICY_KINDS:
            found += autogen_policies((record.inputs.get("metadata") or {}).get("name", record.name), record.inputs.get("spec") or {})
    return found


def compile_problems(policies: list[CompiledPolicy]) -> list[str]:
    problems = []
    for policy in policies:
        spec = policy.spec
        expressions = [("matchConditions", c.get("expression"), "bool") for c in spec.get("matchConditions") or []]
        expressions += [("variables", v.get("expression"), "any") for v in spec.get("variables") or []]
        for v in spec.get("validations") or []:
            expressions.append(("validations", v.get("expression"), "bool"))
            if v.get("messageExpression"):
                expressions.append(("messageExpression", v["messageExpression"], "string"))
        for where, expression, want in expressions:
            try:
                compile_expression(str(expression), want)
            except CelCompileError as error:
                problems.append(f"{policy.label}: {where} expression does not compile: {error}")
    return problems


def _label(obj: dict[str, Any], record_name: str) -> str:
    meta = obj.get("metadata") or {}
    return f"{obj.get('kind')} {meta.get('namespace', 'default')}/{meta.get('name')} ({record_name})"


def admission_check(recording: Recording) -> dict[str, Any]:
    """Every object the program's ValidatingPolicies match, admitted; every expression compiles."""
    policies = recorded_policies(recording)
    problems = compile_problems(policies)
    if problems:
        return {"checked": 0, "problems": problems, "note": None}
    objects = recording.kubernetes_objects()
    namespaces = {(r.inputs.get("metadata") or {}).get("name"): r.inputs for r in objects
                  if r.inputs.get("kind") == "Namespace" and r.inputs.get("apiVersion") == "v1"}
    checked, notes = 0, []
    for record in objects:
        obj = record.inputs
        if obj.get("kind") not in RESOURCES:
            continue
        namespace = namespaces.get((obj.get("metadata") or {}).get("namespace", "default"))
        labels = ((namespace or {}).get("metadata") or {}).get("labels") or {} if namespace else None
        matching = [p for p in policies if matches_constraints(p.spec.get("matchConstraints") or {}, obj, labels)]
        checked += bool(matching)
        for verdict in (v for p in matching for v in evaluate_policy(p, obj, namespace)):
            how = "denied" if verdict.denied else "reported (not denied)"
            (problems if verdict.denied else notes).append(f"{_label(obj, record.name)}: {how} by {verdict.policy}: {verdict.message}")
    note = f"{len(notes)} violation(s) reported, not denied: " + "; ".join(notes[:5]) if notes else None
    return {"checked": checked, "problems": problems, "note": note}
