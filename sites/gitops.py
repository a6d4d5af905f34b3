"""A `delivery: gitops` store: what Pulumi keeps, what Argo CD applies, and how its Secrets get there.

The platform layer gives each gitops site a Kubernetes provider with `renderYamlToDirectory`
(components/platform/gitops.py). pulumi-kubernetes, in that mode, applies nothing: each object's create or
update writes `<apiVersion>-<kind>-<namespace>-<name>.yaml` (`/` and `:` as `_`) under `1-manifest/` of the
directory (CRDs under `0-crd/`), a delete removes the file, and the object's outputs are its inputs (no
status: pulumi/pulumi-kubernetes provider/pkg/provider/provider.go, `renderYaml`, `renderPathForResource`).
So nothing of a store reads an output of a rendered object, and Pulumi's ordering between rendered objects
only orders files: the order Argo CD applies them in comes from sync waves (`Delivery.wave`).

Pulumi keeps, with the cluster provider, whatever the site's AppProject denies Argo CD
(`components/platform/argocd.py` PROJECT_DENIED_KINDS, `PULUMI_KINDS` here): namespace, quota, LimitRange,
network policies, the release Job's Role and RoleBinding, the media volume (protected state). Everything else
in the namespace is rendered. The provider writes a Secret in plain text, so a gitops store registers none:
each Secret it needs (`magento-env`, `rabbitmq-keda`) is an ExternalSecret reading the store's entry in
OpenBao (`sites/<site>/env-php`, `sites/<site>/keda`), which the platform writes (`store_entries`,
components/platform/site_secrets.py); the plan's `gitops` check (offline/checks.py) proves it.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping

import pulumi
import pulumi_kubernetes as k8s

from components.platform.argocd import PROJECT_DENIED_KINDS
from components.platform.site_objects import external_secret
from sites.common import SiteContext, unsecret_checksum

# (group, kind) of the objects Pulumi applies itself in a gitops site's namespace: what Argo CD may not.
PULUMI_KINDS = frozenset((entry["group"], entry["kind"]) for entry in PROJECT_DENIED_KINDS)
CONTENT_CHECKSUM = "magento.io/content-checksum"

# site -> OpenBao entry -> key/values: what the gitops stores' ExternalSecrets read.
StoreEntries = MutableMapping[str, Mapping[str, pulumi.Input[str]]]


def store_secret(
    resource_name: str,
    ctx: SiteContext,
    name: str,
    component: str,
    entry: str,
    data: Mapping[str, pulumi.Input[str]],
    opts: pulumi.ResourceOptions,
    entries: StoreEntries,
) -> pulumi.CustomResource:
    """Secret `name` with `data`: applied as a Secret for a direct store; for a gitops store an ExternalSecret
    (rendered) reading `sites/<site>/<entry>`, whose content is added to `entries` for the platform to write.

    The ExternalSecret carries a checksum of the content: a change of it (the new content is in the store
    by then, `pulumi up` wrote it) makes External Secrets refresh the Secret when Argo CD applies it (its
    controller refreshes when the hash of labels and annotations differs from the synced one:
    external-secrets pkg/controllers/externalsecret/externalsecret_controller.go, getResourceVersion)."""
    if not ctx.delivery.gitops:
        return k8s.core.v1.Secret(resource_name, metadata=ctx.meta(name, component), type="Opaque", string_data=dict(data), opts=opts)
    entries[entry] = dict(data)
    keys = sorted(data)
    content = pulumi.Output.all(*[data[key] for key in keys]).apply(lambda values: "\0".join([*keys, *values]))
    return external_secret(
        ctx.site, entry, opts, secret=name,
        annotations={CONTENT_CHECKSUM: unsecret_checksum(content), **ctx.delivery.wave(-1)},
    )
