"""What every workload of a store shares: names, labels, security contexts, the Magento pod.

Every container of a store runs as a non-root user with no privilege escalation, every capability
dropped, seccomp RuntimeDefault and a read-only root filesystem; the only writable paths are emptyDirs
where Magento or the server writes (`var/`, `/tmp`, the resized-image cache under `pub/media`) and, with
the pvc media backend, the media volume. `app/etc/env.php` is a read-only Secret mount.

Every pod running Magento code trusts exactly the system CAs plus the OpenSearch HTTP CA: its first init
container (`ca-bundle`, the store's image) concatenates the image's system bundle and the CA from
ConfigMap `opensearch-ca` (written by the program into the store's namespace, sites/site.py) into an
emptyDir, which php.ini names as `openssl.cafile` and `curl.cainfo` (sites/runtime/php_fpm.py). The
system bundle is never replaced (S3 and payment APIs verify against it) and verification stays on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi

from components import k8s as kube
from components.config.model import Site
from components.data.tenancy import SiteDataTenancy
from sites.runtime.nginx import MAGE_ROOT
from sites.runtime.php_fpm import CA_BUNDLE, CA_BUNDLE_DIR

MAGENTO_UID = 33  # www-data in the php images; any non-root UID works (every writable path is a volume)
ENV_PHP_SECRET = "magento-env"
PHP_CONFIG = "magento-php"  # php.ini (web and CLI) and the FPM pool
RELEASE_SCRIPTS = "magento-release-scripts"
CONFIG_DIR = "/etc/magento"
SCRIPTS_DIR = "/etc/magento/scripts"
MEDIA_PVC = "media"
# Each php.ini in its own scan directory (`PHP_INI_SCAN_DIR=:/etc/magento/php/<kind>`), the FPM file beside them.
PHP_CONFIG_ITEMS = [
    {"key": "php-fpm.conf", "path": "php-fpm.conf"},
    {"key": "web.ini", "path": "web/zz-magento.ini"},
    {"key": "cli.ini", "path": "cli/zz-magento.ini"},
    {"key": "release.ini", "path": "release/zz-magento.ini"},
]


# The store's S3 keys as a Secret in its namespace: made by hand with `backup.mediaCredentials: manual`
# (docs/runbooks/media-credentials.md), or, for a gitops site with generated keys, by External Secrets from
# the store's `sites/<site>/media` entry (components/platform/site_objects.py: `<service>-credentials`).
MEDIA_SECRET = "media-credentials"
SEARCH_CA = "opensearch-ca"  # ConfigMap: the OpenSearch HTTP CA (public), key `ca.crt`
SEARCH_CA_DIR = "/etc/magento/opensearch-ca"
# Debian's bundle in the store's image (docker/Dockerfile.php-fpm: the official php image on Debian trixie,
# package ca-certificates), the file OpenSSL and libcurl read by default.
SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
# Run by the `ca-bundle` init container with the image's own PHP CLI (`php -n -r`, paths from its environment),
# never a shell: the PHP-FPM pod's KubeArmor policy blocks every shell (components/platform/runtime.py SHELLS).
# Fails the pod rather than start PHP with a trust store that lacks the system CAs or the OpenSearch CA; the
# bundle is written beside itself and renamed, so a reader never sees half of it.
CA_BUNDLE_PHP = r"""$begin = '-----BEGIN CERTIFICATE-----';
$parts = [];
foreach (['SYSTEM_BUNDLE', 'EXTRA_CA'] as $variable) {
    $path = getenv($variable);
    $pem = is_string($path) && is_file($path) ? file_get_contents($path) : false;
    if (!is_string($pem) || strpos($pem, $begin) === false) {
        fwrite(STDERR, "ca-bundle: no certificate in " . var_export($path, true) . " ($variable)\n");
        exit(1);
    }
    $parts[] = $pem;
}
$bundle = (string) getenv('BUNDLE');
$pem = $parts[0] . "\n" . $parts[1];
if ($bundle === '' || file_put_contents("$bundle.tmp", $pem) !== strlen($pem) || !rename("$bundle.tmp", $bundle)) {
    fwrite(STDERR, "ca-bundle: cannot write " . var_export($bundle, true) . "\n");
    exit(1);
}
echo "ca-bundle: ", substr_count($pem, $begin), " certificates in $bundle\n";
"""
# `php` from the image's PATH (/usr/local/bin/php in the official image); -n: no php.ini, the script needs none.
CA_BUNDLE_COMMAND = ("php", "-n", "-r", CA_BUNDLE_PHP)


@dataclass(frozen=True)
class MediaLocation:
    """Where the store's media live when the data layer gives no media credentials of its own."""

    endpoint: str
    region: str
    bucket: str
    prefix: str


@dataclass(frozen=True)
class Delivery:
    """Which Kubernetes provider a store's objects go to (`delivery` in the site file, sites/gitops.py).

    direct: both are None and every object inherits the provider its component was given. gitops: the
    workloads go to `render` (it writes them to tenants/<site>/ of the GitOps checkout and applies
    nothing); the guard rails (kinds the site's AppProject denies) go to `cluster`, which applies them.
    """

    render: pulumi.ProviderResource | None = None
    cluster: pulumi.ProviderResource | None = None

    @property
    def gitops(self) -> bool:
        return self.render is not None

    def workloads(self, opts: pulumi.ResourceOptions) -> pulumi.ResourceOptions:
        """Options of a component whose objects Argo CD applies (its children inherit the render provider)."""
        if self.render is None:
            return opts
        return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(providers={"kubernetes": self.render}))

    def guard(self, opts: pulumi.ResourceOptions) -> pulumi.ResourceOptions:
        """Options of a guard-rail object inside a rendered component: Pulumi applies it with the cluster provider."""
        if self.render is None:
            return opts
        assert self.cluster is not None, "a gitops site needs the cluster provider for its guard rails"
        return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(provider=self.cluster))

    def wave(self, wave: int) -> dict[str, str]:
        """Argo CD sync-wave annotation (gitops only): Argo CD applies a wave once the one before is healthy
        (a Job: complete), the order Pulumi's dependencies give a direct site."""
        return {"argocd.argoproj.io/sync-wave": str(wave)} if self.gitops else {}


@dataclass(frozen=True)
class SiteContext:
    """The store being built: its settings, namespace, tenancy and where the cluster puts pods."""

    site: Site
    namespace: str
    tenancy: SiteDataTenancy
    failure_domains: int
    pod_cidr: str
    media_location: MediaLocation | None = None
    delivery: Delivery = field(default_factory=Delivery)

    @property
    def media_keys_in_env_php(self) -> bool:
        """The store's generated keys go into env.php (the Secret magento-env the program applies): S3 media with
        keys in the tenancy, delivered directly. A gitops site's objects are files in git: no key goes there."""
        return self.site.media.backend == "s3" and self.tenancy.media is not None and self.site.delivery == "direct"

    @property
    def media_keys_from_secret(self) -> bool:
        """S3 media whose keys are not in env.php: the pods read them from the store's Secret `media-credentials`."""
        return self.site.media.backend == "s3" and not self.media_keys_in_env_php

    @property
    def media_secret_optional(self) -> bool:
        """Only a Secret made by hand (no keys in the tenancy) may be missing: the store then serves pages and
        cached media and fails uploads loudly. Generated keys always exist, so a missing Secret stops the pod."""
        return self.tenancy.media is None

    @property
    def image(self) -> str:
        return f"{self.site.image.repository}:{self.site.image.tag}"

    def pod_labels(self, component: str) -> dict[str, str]:
        return {"app.kubernetes.io/name": component, "magento.io/site": self.site.name}

    def labels(self, component: str) -> dict[str, str]:
        return {**kube.labels(component, **{"magento.io/site": self.site.name}), **self.pod_labels(component)}

    def meta(self, name: str, component: str, annotations: Mapping[str, str] | None = None) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": name, "namespace": self.namespace, "labels": self.labels(component)}
        if annotations:
            meta["annotations"] = dict(annotations)
        return meta

    def host(self, service: str) -> str:
        return f"{service}.{self.namespace}.svc.cluster.local"


def checksum(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def container_security(uid: int = MAGENTO_UID) -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_security(uid: int = MAGENTO_UID) -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def empty_dir(name: str, size: str) -> dict[str, Any]:
    return {"name": name, "emptyDir": {"sizeLimit": size}}


def spread(ctx: SiteContext, component: str) -> list[dict[str, Any]]:
    """Replicas over failure domains (hard when there are several) and hosts (soft), counting only the nodes
    the pods may run on (components/placement.py: a tainted witness is not a domain they must fill)."""
    from components.placement import spread_constraints

    return spread_constraints(ctx.pod_labels(component), ctx.failure_domains)


def magento_volumes(ctx: SiteContext) -> list[dict[str, Any]]:
    """The volumes of a pod running Magento code (FPM, cron, consumers, release Job)."""
    media = ctx.site.media
    volumes = [
        {"name": "env-php", "secret": {"secretName": ENV_PHP_SECRET, "defaultMode": 0o440}},
        {"name": "php-config", "configMap": {"name": PHP_CONFIG, "items": PHP_CONFIG_ITEMS}},
        empty_dir("var", "2Gi"),
        empty_dir("tmp", "1Gi"),
        {"name": "search-ca", "configMap": {"name": SEARCH_CA, "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        empty_dir("ca-bundle", "4Mi"),
    ]
    if media.backend == "pvc":
        volumes.append({"name": "media", "persistentVolumeClaim": {"claimName": MEDIA_PVC}})
    else:
        volumes.append(empty_dir("media", media.image_cache_size))
    return volumes


def magento_mounts() -> list[dict[str, Any]]:
    return [
        {"name": "env-php", "mountPath": f"{MAGE_ROOT}/app/etc/env.php", "subPath": "env.php", "readOnly": True},
        {"name": "php-config", "mountPath": CONFIG_DIR + "/php", "readOnly": True},
        {"name": "var", "mountPath": f"{MAGE_ROOT}/var"},
        {"name": "tmp", "mountPath": "/tmp"},
        {"name": "media", "mountPath": f"{MAGE_ROOT}/pub/media"},
        {"name": "ca-bundle", "mountPath": CA_BUNDLE_DIR, "readOnly": True},
    ]


def ca_bundle_container(ctx: SiteContext) -> dict[str, Any]:
    """The init container that writes the trust store (system CAs + OpenSearch HTTP CA) the PHP processes read."""
    return {
        "name": "ca-bundle",
        "image": ctx.image,
        "imagePullPolicy": "IfNotPresent",
        "command": list(CA_BUNDLE_COMMAND),
        "env": [
            {"name": "SYSTEM_BUNDLE", "value": SYSTEM_CA_BUNDLE},
            {"name": "EXTRA_CA", "value": f"{SEARCH_CA_DIR}/ca.crt"},
            {"name": "BUNDLE", "value": CA_BUNDLE},
        ],
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "100m", "memory": "32Mi"}},
        "securityContext": container_security(),
        "volumeMounts": [
            {"name": "search-ca", "mountPath": SEARCH_CA_DIR, "readOnly": True},
            {"name": "ca-bundle", "mountPath": CA_BUNDLE_DIR},
        ],
    }


def php_env(ctx: SiteContext, ini: str) -> list[dict[str, Any]]:
    """Our php.ini is read after the image's own (`:` appends to the compiled-in scan directory); with media
    keys from the store's Secret, the AWS SDK's environment credentials (env.php then names none; the reference is
    optional only for a Secret made by hand)."""
    env: list[dict[str, Any]] = [
        {"name": "PHP_INI_SCAN_DIR", "value": f":{CONFIG_DIR}/php/{ini}"},
        {"name": "MAGE_MODE", "value": "production"},
        {"name": "TMPDIR", "value": "/tmp"},
    ]
    if ctx.media_keys_from_secret:
        env += [
            {"name": variable, "valueFrom": {"secretKeyRef": {"name": MEDIA_SECRET, "key": key, "optional": ctx.media_secret_optional}}}
            for variable, key in (("AWS_ACCESS_KEY_ID", "access_key_id"), ("AWS_SECRET_ACCESS_KEY", "secret_access_key"))
        ]
    return env


def magento_container(
    ctx: SiteContext,
    name: str,
    command: Sequence[str],
    resources: dict[str, Any],
    *,
    ini: str = "cli",
    extra_mounts: Sequence[dict[str, Any]] = (),
    **fields: Any,
) -> dict[str, Any]:
    return {
        "name": name,
        "image": ctx.image,
        "imagePullPolicy": "IfNotPresent",
        "workingDir": MAGE_ROOT,
        "command": list(command),
        "env": php_env(ctx, ini),
        "resources": resources,
        "securityContext": container_security(),
        "volumeMounts": magento_mounts() + list(extra_mounts),
        **fields,
    }


def pod_spec(
    ctx: SiteContext,
    containers: list[dict[str, Any]],
    volumes: list[dict[str, Any]],
    *,
    uid: int = MAGENTO_UID,
    grace: int = 30,
    component: str | None = None,
    service_account: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    if any(volume["name"] == "ca-bundle" for volume in volumes):
        # A pod with Magento's volumes runs PHP: its trust store is built before anything else starts.
        fields["initContainers"] = [ca_bundle_container(ctx), *fields.get("initContainers", [])]
    spec: dict[str, Any] = {
        "automountServiceAccountToken": service_account is not None,
        "enableServiceLinks": False,
        "securityContext": pod_security(uid),
        "terminationGracePeriodSeconds": grace,
        "containers": containers,
        "volumes": volumes,
        **fields,
    }
    if service_account:
        spec["serviceAccountName"] = service_account
    if component is not None:
        spec["topologySpreadConstraints"] = spread(ctx, component)
    return spec


def unsecret_checksum(value: pulumi.Output[str]) -> pulumi.Output[str]:
    """A checksum of a secret (e.g. env.php) for a pod annotation: rolls the pods when it changes, reveals nothing."""
    return pulumi.Output.unsecret(value.apply(lambda text: checksum(text)))
