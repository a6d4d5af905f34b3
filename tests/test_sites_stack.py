"""Stack per store: onboarding in one command (on a temporary directory), and a store's own stack built
from a mocked StackReference to its platform stack, with the same component the platform uses."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config.loader import ConfigError
from components.config.model import Site
from components.config.site_files import site_files
from offline.engine import RecordingMocks, run_program
from offline.stackfile import ROOT, settings_from_values
from sites import onboard
from sites.stack import main as site_stack_main
from tests.sites_support import SEARCH_CA

PLATFORM = "organization/magento/prod"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for name in ("Pulumi.yaml", "Pulumi.prod.yaml", "Pulumi.dev.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def test_onboarding_writes_a_valid_site_file_and_stack_file(root, capsys):
    code = onboard.main(["--root", str(root), "--name", "shop-it", "--env", "prod", "--domain", "www.example.it",
                         "--image", "ghcr.io/example/magento-shop:2.4.8-p3-2026.11.20"])
    assert code == 0
    site_path, stack_path = root / "sites/stores/prod/shop-it.yaml", root / "Pulumi.prod-site-shop-it.yaml"
    site = Site.model_validate(yaml.safe_load(site_path.read_text()))
    assert (site.name, site.domains, site.deployment, site.size) == ("shop-it", ["www.example.it"], "stack", "small")
    assert site.media.backend == "s3" and site.edge.waf.mode == "detection-only"
    stack = yaml.safe_load(stack_path.read_text())["config"]
    assert stack["magento:platformStack"] == PLATFORM
    assert stack["magento:siteFile"] == "sites/stores/prod/shop-it.yaml"
    assert stack["pulumi:disable-default-providers"] == ["kubernetes", "aws", "command"]
    out = capsys.readouterr().out
    assert "pulumi up --stack prod-site-shop-it" in out and "pulumi up --stack prod" in out
    # The platform stack of the environment now sees the store (its tenancy and listeners are built there).
    assert [s["name"] for s in site_files("prod", root)] == ["shop-it"]


@pytest.mark.parametrize(
    ("name", "domain", "image", "expected"),
    [
        ("shop-fr", "www.example.it", "ghcr.io/e/m:1", "name: store 'shop-fr' already exists in prod"),
        ("Shop_IT", "www.example.it", "ghcr.io/e/m:1", "name: 'Shop_IT' is not a store name"),
        ("a" * 31, "www.example.it", "ghcr.io/e/m:1", "is not a store name"),
        ("shop-it", "www.example.fr", "ghcr.io/e/m:1", "www.example.fr is already served by sites[0]"),
        ("shop-it", "www.example.it", "ghcr.io/e/m:latest", "'latest' is not a pinned tag"),
        ("shop-it", "www.example.it", "no-tag", "image: 'no-tag' is not repository:tag"),
    ],
)
def test_onboarding_refuses_existing_or_invalid_stores_and_writes_nothing(root, capsys, name, domain, image, expected):
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    assert onboard.main(["--root", str(root), "--name", name, "--env", "prod", "--domain", domain, "--image", image]) == 1
    assert expected in capsys.readouterr().err
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before


def test_onboarding_the_same_store_twice_is_refused(root):
    onboard.onboard(root, "shop-it", "prod", "www.example.it", "ghcr.io/e/m:1")
    with pytest.raises(ConfigError, match="already exists"):
        onboard.onboard(root, "shop-it", "prod", "shop.example.it", "ghcr.io/e/m:1")


def test_onboarding_needs_an_existing_environment(root):
    with pytest.raises(ConfigError, match=r"Pulumi\.staging\.yaml does not exist"):
        onboard.onboard(root, "shop-it", "staging", "www.example.it", "ghcr.io/e/m:1")


# --------------------------------------------------------------------------------------- site stack


def platform_outputs(site: str) -> dict[str, Any]:
    """What `pulumi stack output --show-secrets` of the platform stack holds for one store."""
    def cred(user: str, password: str) -> dict[str, str]:
        return {"user": user, "password": password}

    valkey = {
        purpose: {"purpose": purpose, "host": f"valkey-{site}-{purpose}.valkey.svc.cluster.local", "port": 6379, "database": 0,
                  "credential": cred(f"{site}-{purpose}", f"pw-{purpose}"),
                  "sentinel": {"hosts": ["valkey-sentinel.valkey.svc.cluster.local:26379"], "master": f"{site}-{purpose}"}}
        for purpose in ("cache", "session")
    }
    tenancy = {
        "site": site,
        "database": {"host": "pxc-haproxy.mysql.svc.cluster.local", "port": 3306, "name": "site_shop_it",
                     "credential": cred("site_shop_it", "pw-db")},
        "search": {"host": "opensearch.opensearch.svc.cluster.local", "port": 9200, "scheme": "https", "index_prefix": site,
                   "credential": cred(f"site-{site}", "pw-search"), "ca_cert": SEARCH_CA},
        "queue": {"host": "rabbitmq.rabbitmq.svc.cluster.local", "port": 5672, "vhost": f"site-{site}",
                  "credential": cred(f"site-{site}", "pw-queue")},
        "valkey": valkey,
        "media": {"endpoint": "https://s3.gra.io.cloud.ovh.net", "region": "gra", "bucket": "magento-prod-media",
                  "prefix": f"{site}/", "access_key_id": "key", "secret_access_key": "secret"},
    }
    return {
        "outputs": {
            "kubeconfig": "apiVersion: v1\nkind: Config\n",
            "failureDomains": 3,
            "sitePlatform": {"podCidr": "10.244.0.0/16", "storageClass": "zfs", "protectStateful": True, "kubeContext": None},
            "siteTenancy": {site: tenancy},
        },
        "secretOutputNames": ["kubeconfig", "siteTenancy"],
    }


def site_stack(root: Path, name: str = "shop-it", *, stack: str | None = None, outputs: dict[str, Any] | None = None):
    onboard.onboard(root, name, "prod", f"www.{name}.example", "ghcr.io/example/magento-shop:2.4.8-p3-2026.11.20")
    RecordingMocks.stack_references[PLATFORM] = outputs or platform_outputs(name)
    values = {"environment": "prod", "platformStack": PLATFORM,
              "siteFile": str(root / f"sites/stores/prod/{name}.yaml"), "pulumi:disable-default-providers": '["kubernetes"]'}
    try:
        return run_program(settings_from_values(values, stack=stack or f"prod-site-{name}", with_secret_placeholders=False),
                           program=site_stack_main)
    finally:
        RecordingMocks.stack_references.pop(PLATFORM, None)


def test_a_site_stack_builds_the_store_from_the_platform_stacks_outputs(root):
    rec = site_stack(root)
    own = [r.inputs for r in rec.own_objects()]
    namespaces = {o["metadata"].get("namespace") for o in own if o["kind"] != "Namespace"}
    assert namespaces == {"site-shop-it"}, "a site stack writes only into its store's namespace"
    kinds = {(o["kind"], o["metadata"]["name"]) for o in own}
    assert {("Deployment", "php-fpm"), ("StatefulSet", "varnish"), ("CronJob", "cron"), ("Deployment", "waf"),
            ("Job", "release-2-4-8-p3-2026-11-20"), ("HTTPRoute", "shop-it-storefront")} <= kinds
    env = next(r for r in rec.own_objects() if r.inputs["kind"] == "Secret" and r.inputs["metadata"]["name"] == "magento-env")
    text = env.inputs["stringData"]["env.php"]
    assert "'password' => 'pw-db'" in text and "'virtualhost' => 'site-shop-it'" in text
    assert "'sentinel_master' => 'shop-it-session'" in text
    assert env.is_secret("stringData")
    # The OpenSearch HTTP CA comes with the tenancy: the store trusts it without any copy from `opensearch`.
    (ca,) = [o for o in own if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "opensearch-ca"]
    assert ca["data"] == {"ca.crt": SEARCH_CA}
    providers = [r for r in rec.resources if r.type == "pulumi:providers:kubernetes"]
    assert len(providers) == 1 and providers[0].is_secret("kubeconfig")


def test_a_site_stack_uses_the_same_component_as_the_platform(root):
    rec = site_stack(root)
    (site,) = [r for r in rec.resources if r.type == "magento:sites:MagentoSite"]
    assert site.name == "shop-it"


def test_a_site_stack_refuses_a_store_the_platform_has_no_tenancy_for(root):
    outputs = platform_outputs("shop-it")
    outputs["outputs"]["siteTenancy"] = {}
    with pytest.raises(Exception, match="exports no siteTenancy for shop-it"):
        site_stack(root, outputs=outputs)


def test_a_site_stack_must_be_named_after_its_store(root):
    with pytest.raises(ConfigError, match="its stack is prod-site-shop-it, not prod-site-other"):
        site_stack(root, stack="prod-site-other")



@pytest.mark.parametrize("service_monitors, expected", [(True, 1), (False, 0), (None, 0)])
def test_a_site_stack_adds_its_pod_monitor_only_when_the_platform_says_the_crds_exist(root, service_monitors, expected):
    """None: a platform stack from before `sitePlatform.serviceMonitors` existed: no PodMonitor until it exports it."""
    outputs = platform_outputs("shop-it")
    if service_monitors is not None:
        outputs["outputs"]["sitePlatform"]["serviceMonitors"] = service_monitors
    rec = site_stack(root, outputs=outputs)
    monitors = [r.inputs for r in rec.own_objects() if r.inputs["kind"] == "PodMonitor"]
    assert [(m["metadata"]["namespace"], m["metadata"]["name"]) for m in monitors] == [("site-shop-it", "site-metrics")] * expected
