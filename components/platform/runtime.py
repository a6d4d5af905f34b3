"""KubeArmor: the operator (every image tag pinned, the chart defaults to `stable`/`latest`), its
KubeArmorConfig (ours: the chart's is a hook, which helm.v4.Chart never applies), and per site the PHP-FPM
runtime policy, in audit mode unless the site is listed in `platform.admission.runtimeBlockSites`.

The PHP-FPM policy (selector `app.kubernetes.io/name: php-fpm`, the label the sites layer's PHP-FPM pods
carry: sites/common.py `pod_labels`) forbids executing a shell or the usual spawn targets (PHP's `exec()` and
`system()` run `/bin/sh -c`), and writing anywhere in the Magento tree except the paths the sites layer
mounts writable (`var/`, `pub/media/`, and `/tmp/`): `generated/` and `pub/static/` are compiled into the
image at build time and read-only at run time.

The PHP-FPM pods themselves must run under it in Block: they exec no shell (preStop is the kubelet's sleep
action, the `ca-bundle` init container runs `php -r`) and write only emptyDirs outside these rules (the trust
store under /run/). The offline plan's `runtime` check (offline/runtime_policy.py) simulates each policy
against the pods it selects.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube
from components.config.model import Site, StackConfig
from components.platform.common import service_namespace
from sites.php_fpm import FPM_NAME
from sites.runtime.nginx import MAGE_ROOT

KUBEARMOR_NAMESPACE = "kubearmor"
KUBEARMOR_TAG = "v1.7.4"
MAGENTO_ROOT = MAGE_ROOT
PHP_FPM_SELECTOR = {"app.kubernetes.io/name": FPM_NAME}
SHELLS = ("/bin/sh", "/bin/bash", "/bin/dash", "/bin/ash", "/usr/bin/sh", "/usr/bin/bash", "/usr/bin/dash",
          "/bin/busybox", "/usr/bin/curl", "/usr/bin/wget", "/usr/bin/nc", "/usr/bin/perl", "/usr/bin/python3")
# Directories of the Magento tree that are code or configuration (read-only at run time).
READ_ONLY_DIRS = ("app/", "bin/", "dev/", "lib/", "setup/", "vendor/", "generated/", "pub/static/", "pub/errors/", "pub/opt/")
# Files directly under the root and pub/ (front controllers, .htaccess, composer files).
READ_ONLY_FILES = ("pub/index.php", "pub/get.php", "pub/static.php", "pub/health_check.php", "composer.json", "composer.lock")
SYSTEM_DIRS = ("/etc/", "/usr/", "/bin/", "/sbin/", "/lib/")
WRITABLE = ("var/", "pub/media/")  # sites/common.py magento_mounts(): emptyDir or the media volume

# Image name (repository kubearmor/) per chart `kubearmor.images` key.
IMAGES = {
    "kubearmor": "kubearmor",
    "kubearmorInit": "kubearmor-init",
    "kubearmorRelay": "kubearmor-relay-server",
    "kubearmorController": "kubearmor-controller",
    "kubearmorSnitch": "kubearmor-snitch",
    "kubearmorOperator": "kubearmor-operator",
}


def kubearmor_values(config: StackConfig) -> dict[str, Any]:
    return {
        "autoDeploy": False,  # its KubeArmorConfig would be a hook: ours is below
        "imagePinning": True,
        "kubearmor": {"repo": "docker.io/kubearmor", "images": {key: {"image": image, "tag": KUBEARMOR_TAG} for key, image in IMAGES.items()}},
        "kubearmorOperator": {
            "image": {"repository": "docker.io/kubearmor/kubearmor-operator", "tag": KUBEARMOR_TAG},
            "resources": config.platform.admission.kubearmor.as_k8s(),
            "podSecurityContext": {"runAsNonRoot": True, "runAsUser": 65532, "seccompProfile": {"type": "RuntimeDefault"}},
            "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}},
        },
    }


def kubearmor_config(config: StackConfig, opts: pulumi.ResourceOptions) -> k8s.apiextensions.CustomResource:
    def image(name: str) -> dict[str, str]:
        return {"image": f"docker.io/kubearmor/{name}:{KUBEARMOR_TAG}", "imagePullPolicy": "IfNotPresent"}

    return k8s.apiextensions.CustomResource(
        "kubearmor-config",
        api_version="operator.kubearmor.com/v1",
        kind="KubeArmorConfig",
        metadata={"name": "kubearmor-default", "namespace": KUBEARMOR_NAMESPACE, "labels": kube.labels("runtime-security")},
        spec={
            "defaultFilePosture": "audit",
            "defaultNetworkPosture": "audit",
            "defaultCapabilitiesPosture": "audit",
            "defaultVisibility": "process,network",
            "alertThrottling": True,
            "maxAlertPerSec": 10,
            "throttleSec": 30,
            "kubearmorImage": image("kubearmor"),
            "kubearmorInitImage": image("kubearmor-init"),
            "kubearmorRelayImage": image("kubearmor-relay-server"),
            "kubearmorControllerImage": image("kubearmor-controller"),
        },
        opts=opts,
    )


def runtime_mode(config: StackConfig, site: Site) -> str:
    admission = config.platform.admission
    return "block" if site.name in admission.runtime_block_sites else admission.runtime_default_mode


def php_fpm_policy_spec(config: StackConfig, site: Site) -> dict[str, Any]:
    action = "Block" if runtime_mode(config, site) == "block" else "Audit"
    root = MAGENTO_ROOT.rstrip("/")
    return {
        "selector": {"matchLabels": dict(PHP_FPM_SELECTOR)},
        "severity": 7,
        "tags": ["magento", "php-fpm"],
        "message": f"PHP-FPM of site {site.name}: shell execution or a write outside Magento's writable paths",
        "process": {"matchPaths": [{"path": path} for path in SHELLS]},
        "file": {
            "matchDirectories": [
                *({"dir": f"{root}/{d}", "recursive": True, "readOnly": True} for d in READ_ONLY_DIRS),
                *({"dir": d, "recursive": True, "readOnly": True} for d in SYSTEM_DIRS),
            ],
            "matchPaths": [{"path": f"{root}/{f}", "readOnly": True} for f in READ_ONLY_FILES],
        },
        "action": action,
    }


def php_fpm_policy(config: StackConfig, site: Site, opts: pulumi.ResourceOptions) -> k8s.apiextensions.CustomResource:
    """The site's PHP-FPM KubeArmorPolicy (registered after the site's namespace: components/platform/site_objects.py)."""
    return k8s.apiextensions.CustomResource(
        f"kubearmor-php-fpm-{site.name}",
        api_version="security.kubearmor.com/v1",
        kind="KubeArmorPolicy",
        metadata={"name": "php-fpm-runtime", "namespace": f"site-{site.name}",
                  "labels": kube.labels("runtime-security", **{"magento.io/site": site.name})},
        spec=php_fpm_policy_spec(config, site),
        opts=opts,
    )


class RuntimeSecurity(pulumi.ComponentResource):
    """The KubeArmor operator and its configuration (the per-site policies follow the sites layer)."""

    def __init__(self, name: str, config: StackConfig, opts: pulumi.ResourceOptions):
        super().__init__("magento:platform:RuntimeSecurity", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        ns = service_namespace(KUBEARMOR_NAMESPACE, "privileged", "runtime-security", child)  # the agent is a host-level DaemonSet
        self.chart = kube.chart("kubearmor-operator", "kubearmor-operator", namespace=KUBEARMOR_NAMESPACE,
                                values=kubearmor_values(config), opts=pulumi.ResourceOptions(parent=self, depends_on=[ns]))
        kubearmor_config(config, pulumi.ResourceOptions(parent=self, depends_on=[self.chart]))
        self.register_outputs({"modes": {site.name: runtime_mode(config, site) for site in config.sites}})
