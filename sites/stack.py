"""A store as its own stack, `<environment>-site-<name>`: the same `MagentoSite` the platform stack would
build, on what the platform stack exports, read through a StackReference.

    Pulumi.<env>-site-<name>.yaml     magento:environment, magento:platformStack, magento:siteFile
    platform stack outputs            kubeconfig (kubeadm mode), failureDomains, sitePlatform, siteTenancy[<name>]

The site stack owns only its store's objects (its namespace and what is in it): a `pulumi up` of it cannot
change the platform or another store, because nothing else is in its state. The platform stack keeps the
store's tenancy (database, vhost, Valkey, index prefix, media prefix) and its listeners at the Gateway,
because the store's file is in the platform's environment too (`deployment: stack` tells the platform
not to build the workloads itself).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from pydantic import ValidationError

from components.config.checks import Problem
from components.config.loader import ConfigError, problems_from
from components.config.model import Site
from components.config.site_files import ROOT, read_site_file
from components.data.tenancy import from_output, public_fields
from sites.common import MediaLocation
from sites.site import MagentoSite, MagentoSiteArgs

SETTINGS = ("environment", "platformStack", "siteFile")
_TASKS: set[asyncio.Future[None]] = set()


@dataclass(frozen=True)
class SiteStackConfig:
    environment: str
    platform_stack: str
    site: Site


def is_site_stack() -> bool:
    """Whether the running stack is a site stack (its stack file names the platform stack)."""
    return pulumi.Config("magento").get("platformStack") is not None


def load_site_stack(root: Path = ROOT) -> SiteStackConfig:
    """The site stack's settings and its validated site file, or ConfigError naming each bad key."""
    cfg = pulumi.Config("magento")
    problems = [Problem(key, "required in a site stack") for key in SETTINGS if not cfg.get(key)]
    if problems:
        raise ConfigError(problems)
    environment, platform, site_path = cfg.require("environment"), cfg.require("platformStack"), cfg.require("siteFile")
    path = root / site_path
    if not path.is_file():
        raise ConfigError([Problem("siteFile", f"{site_path} does not exist")])
    try:
        site = Site.model_validate(read_site_file(path))
    except ValidationError as exc:
        raise ConfigError([Problem(f"{site_path}: {p.path}", p.message) for p in problems_from(exc)]) from None
    except ValueError as exc:
        raise ConfigError([Problem("siteFile", str(exc))]) from None
    if site.deployment != "stack":
        raise ConfigError([Problem(f"{site_path}: deployment", "must be 'stack' for a site stack (else the platform stack builds it)")])
    expected = f"{environment}-site-{site.name}"
    if pulumi.get_stack() != expected:
        raise ConfigError([Problem("siteFile", f"{site_path} is site {site.name}: its stack is {expected}, not {pulumi.get_stack()}")])
    return SiteStackConfig(environment, platform, site)


async def _build(config: SiteStackConfig) -> str:
    site = config.site
    platform = pulumi.StackReference(config.platform_stack)
    tenancy_details = await platform.get_output_details("siteTenancy")
    all_tenancy: dict[str, Any] = tenancy_details.secret_value or tenancy_details.value or {}
    if site.name not in all_tenancy:
        raise ConfigError([Problem("platformStack", f"{config.platform_stack} exports no siteTenancy for {site.name}: "
                                   f"add sites/stores/{config.environment}/{site.name}.yaml to it and run its `pulumi up` first")])
    shared = await platform.get_output_details("sitePlatform")
    placement: dict[str, Any] = shared.value or shared.secret_value or {}
    domains = await platform.get_output_details("failureDomains")
    raw = platform.require_output("siteTenancy").apply(lambda value: value[site.name])
    tenancy = from_output(site.name, public_fields(all_tenancy[site.name]), pulumi.Output.secret(raw))
    kubeconfig = await platform.get_output_details("kubeconfig")
    provider = k8s.Provider(
        "kubernetes",
        kubeconfig=pulumi.Output.secret(platform.require_output("kubeconfig")) if (kubeconfig.secret_value or kubeconfig.value) else None,
        context=placement.get("kubeContext"),
    )
    built = MagentoSite(
        site.name,
        MagentoSiteArgs(site, tenancy, int(domains.value or domains.secret_value or 1), placement["podCidr"],
                        placement.get("storageClass"), bool(placement.get("protectStateful", True)),
                        tuple(placement.get("trustedProxyCidrs") or ()),
                        MediaLocation(**located) if (located := (placement.get("mediaLocations") or {}).get(site.name)) else None,
                        # a platform stack from before this key exported no PodMonitor switch: none until it does
                        bool(placement.get("serviceMonitors", False))),
        pulumi.ResourceOptions(providers={"kubernetes": provider}),
    )
    pulumi.export("release", site.release_name)
    pulumi.export("platformStack", config.platform_stack)
    del built
    return f"site-{site.name}"


def main() -> None:
    """The site stack's program (called by __main__.py when the stack file names a platform stack)."""
    config = load_site_stack()
    # The platform's outputs are awaited before the store is built. The build is a stack output, so an
    # error in it (a store the platform has no tenancy for) fails the update instead of vanishing.
    task = asyncio.ensure_future(_build(config))
    _TASKS.add(task)
    pulumi.export("namespace", pulumi.Output.from_input(task))
