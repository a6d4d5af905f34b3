"""The PHP-FPM KubeArmorPolicy against the pods it selects: nothing our own pods run at start, on a probe or on
a lifecycle hook is a blocked executable, and no volume they write is under a read-only rule, with every site
in Block mode (prod) and as the stack files set it (dev and prod). The failing cases are the specs we used to
render (a `sh -c` preStop and init container, the trust store under /etc/) and the other ways a pod execs.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from components.config import validate
from components.platform.runtime import php_fpm_policy_spec
from offline.checks import CHECKS
from offline.engine import Recording
from offline.references import pod_template
from offline.runtime_policy import pod_violations, runtime_policy_check
from sites.php_fpm import PRE_STOP_SLEEP_SECONDS
from tests.layer_helpers import kind, stack_values

ROOT = Path(__file__).resolve().parents[1]


def workload(rec: Recording, namespace: str, kind_name: str, name: str) -> dict[str, Any]:
    (found,) = [r.inputs for r in rec.own_objects() if r.inputs["kind"] == kind_name and r.inputs["metadata"]["name"] == name
                and r.inputs["metadata"].get("namespace") == namespace]
    return copy.deepcopy(found)


def policy(rec: Recording, namespace: str) -> dict[str, Any]:
    (found,) = [r.inputs for r in kind(rec, "KubeArmorPolicy") if r.inputs["metadata"]["namespace"] == namespace]
    return copy.deepcopy(found)


def fpm_pod(rec: Recording) -> dict[str, Any]:
    return pod_template(workload(rec, "site-shop-fr", "Deployment", "php-fpm"))["spec"]  # type: ignore[index]


def container(pod: dict[str, Any], name: str, init: bool = False) -> dict[str, Any]:
    (found,) = [c for c in pod["initContainers" if init else "containers"] if c["name"] == name]
    return found


@dataclass
class Objects:
    """A Recording's objects, edited (what runtime_policy_check reads: `kubernetes_objects()[i].inputs`)."""

    objects: list[dict[str, Any]]

    def kubernetes_objects(self) -> list[Any]:
        return [type("Recorded", (), {"inputs": o})() for o in self.objects]


# ------------------------------------------------------------------------------------------ passing


def test_every_site_in_block_mode_runs_its_php_fpm_pods_unharmed(run):
    values = stack_values("prod")
    names = [site.name for site in validate(values).sites]
    values.setdefault("platform", {})["admission"] = {"runtimeBlockSites": names}
    rec = run(values, stack="prod")
    policies = [r.inputs for r in kind(rec, "KubeArmorPolicy")]
    assert len(policies) >= 2 and {p["spec"]["action"] for p in policies} == {"Block"}
    result = runtime_policy_check(rec)
    fpm_deployments = [r for r in kind(rec, "Deployment") if r.inputs["metadata"]["name"] == "php-fpm"]
    assert result["checked"] == len(fpm_deployments) == len(policies)  # each policy selects its site's FPM pods, only those
    assert result["problems"] == []


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_plan_runs_the_check_on_each_stack_file(stack: str, dev: Recording, prod: Recording):
    rec = {"dev": dev, "prod": prod}[stack]
    assert CHECKS["runtime"] is runtime_policy_check
    result = CHECKS["runtime"](rec)
    assert result["checked"] >= 1 and result["problems"] == []


def test_php_fpm_stops_with_the_kubelet_sleep_and_the_image_stop_signal(prod: Recording):
    pod = fpm_pod(prod)
    fpm = container(pod, "php-fpm")
    assert fpm["lifecycle"] == {"preStop": {"sleep": {"seconds": PRE_STOP_SLEEP_SECONDS}}}
    conf = workload(prod, "site-shop-fr", "ConfigMap", "magento-php")["data"]["php-fpm.conf"]
    control = int(re.search(r"^process_control_timeout = (\d+)s$", conf, re.M).group(1))  # type: ignore[union-attr]
    # SIGKILL only after the sleep and php-fpm's own graceful window (children finish their request).
    assert pod["terminationGracePeriodSeconds"] > PRE_STOP_SLEEP_SECONDS + control
    # The stop signal the runtime sends after preStop is the image's: SIGQUIT in the stage the site image is built from.
    dockerfile = (ROOT / "docker" / "Dockerfile.php-fpm").read_text()
    runtime_stage = dockerfile[dockerfile.rindex("\nFROM "):]
    assert re.search(r"^STOPSIGNAL SIGQUIT$", runtime_stage, re.M)
    # Nothing in the pod execs into a container: probes are tcpSocket, the exporter has no hook.
    for c in pod["containers"]:
        assert all("exec" not in (c.get(p) or {}) for p in ("startupProbe", "readinessProbe", "livenessProbe")), c["name"]
    assert "lifecycle" not in container(pod, "php-fpm-exporter")


def test_the_init_container_writes_the_trust_store_outside_the_read_only_directories(prod: Recording):
    pod = fpm_pod(prod)
    init = container(pod, "ca-bundle", init=True)
    assert init["command"][:3] == ["php", "-n", "-r"]
    (mount,) = [m for m in init["volumeMounts"] if m["name"] == "ca-bundle"]
    assert not mount["mountPath"].startswith(("/etc/", "/usr/", "/bin/", "/sbin/", "/lib/")) and not mount.get("readOnly")
    assert pod_violations(policy(prod, "site-shop-fr")["spec"], pod) == []


# ------------------------------------------------------------------------------------------ failing


def test_the_former_shell_prestop_and_init_container_are_named(prod: Recording):
    spec = policy(prod, "site-shop-fr")["spec"]
    pod = fpm_pod(prod)
    container(pod, "php-fpm")["lifecycle"] = {"preStop": {"exec": {"command": [
        "sh", "-c", "sleep 5; kill -QUIT 1; while kill -0 1 2>/dev/null; do sleep 1; done"]}}}
    init = container(pod, "ca-bundle", init=True)
    init["command"] = ["sh", "-c", "cat a b > c"]
    for m in init["volumeMounts"]:
        if m["name"] == "ca-bundle":
            m["mountPath"] = "/etc/magento/ca"
    assert pod_violations(spec, pod) == [
        "init container ca-bundle command 'sh' executes /usr/bin/sh: matched by process.matchPaths /usr/bin/sh",
        "init container ca-bundle mounts volume ca-bundle writable at /etc/magento/ca: file.matchDirectories /etc/ (readOnly) forbids writing there",
        "container php-fpm lifecycle.preStop.exec 'sh' executes /usr/bin/sh: matched by process.matchPaths /usr/bin/sh",
    ]


def test_probes_hooks_env_wrappers_and_unknown_entrypoints_are_named(prod: Recording):
    spec = policy(prod, "site-shop-fr")["spec"]
    pod = fpm_pod(prod)
    fpm = container(pod, "php-fpm")
    fpm["livenessProbe"] = {"exec": {"command": ["/bin/bash", "-c", "true"]}}
    fpm["lifecycle"] = {"postStart": {"exec": {"command": ["/usr/bin/env", "-i", "A=1", "dash", "-c", "true"]}}}
    exporter = container(pod, "php-fpm-exporter")
    exporter["image"] = "docker.io/example/unknown:1.0"  # no command: runs an entrypoint we do not know
    found = pod_violations(spec, pod)
    assert found == [
        "container php-fpm livenessProbe.exec '/bin/bash' executes /bin/bash: matched by process.matchPaths /bin/bash",
        "container php-fpm lifecycle.postStart.exec '/usr/bin/env' executes /usr/bin/dash: matched by process.matchPaths /usr/bin/dash",
        "container php-fpm-exporter: no command and the entrypoint of image docker.io/example/unknown:1.0 is unknown "
        "(offline/runtime_policy.py IMAGE_ENTRYPOINTS)",
    ]
    # The site image without `command` runs docker-php-entrypoint (a /bin/sh script): unknown, so named too.
    del fpm["command"]
    assert any("container php-fpm: no command" in v for v in pod_violations(spec, pod))


def test_a_bare_name_resolves_over_the_containers_path(prod: Recording):
    spec = policy(prod, "site-shop-fr")["spec"]
    pod = fpm_pod(prod)
    fpm = container(pod, "php-fpm")
    fpm["lifecycle"] = {"preStop": {"exec": {"command": ["sh", "-c", "true"]}}}
    assert len(pod_violations(spec, pod)) == 1
    fpm["env"] = [*fpm["env"], {"name": "PATH", "value": "/opt/tools/bin"}]  # no blocked path on this PATH
    assert pod_violations(spec, pod) == []


def test_the_check_names_the_workload_and_policy_in_audit_mode_too(prod: Recording):
    objects = [copy.deepcopy(r.inputs) for r in prod.kubernetes_objects()]
    (fpm,) = [o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "php-fpm"
              and o["metadata"]["namespace"] == "site-shop-fr"]
    container(fpm["spec"]["template"]["spec"], "php-fpm")["lifecycle"] = {"preStop": {"exec": {"command": ["sh", "-c", "true"]}}}
    result = runtime_policy_check(Objects(objects))  # type: ignore[arg-type]
    assert result["problems"] == [
        "Deployment site-shop-fr/php-fpm: container php-fpm lifecycle.preStop.exec 'sh' executes /usr/bin/sh: "
        "matched by process.matchPaths /usr/bin/sh of KubeArmorPolicy site-shop-fr/php-fpm-runtime (Audit)"]


def test_nginx_is_not_selected_but_its_shell_prestop_would_break_under_such_a_policy(prod: Recording):
    """nginx's preStop is `sh -c` (sites/nginx.py): fine today (the policy selects PHP-FPM pods only); a policy
    for the nginx tier would have to replace it first."""
    nginx = workload(prod, "site-shop-fr", "Deployment", "nginx")
    labels = pod_template(nginx)["metadata"]["labels"]  # type: ignore[index]
    assert labels["app.kubernetes.io/name"] == "nginx"
    objects = [copy.deepcopy(r.inputs) for r in prod.kubernetes_objects()]
    assert runtime_policy_check(Objects(objects))["problems"] == []  # type: ignore[arg-type]
    config = validate(stack_values("prod"))
    site = next(s for s in config.sites if s.name == "shop-fr")
    spec = php_fpm_policy_spec(config, site) | {"selector": {"matchLabels": {"app.kubernetes.io/name": "nginx"}}}
    assert any("lifecycle.preStop.exec 'sh'" in v for v in pod_violations(spec, pod_template(nginx)["spec"]))  # type: ignore[index]
