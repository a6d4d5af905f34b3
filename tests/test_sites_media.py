"""Media backends of a store: object storage (prod's stores) and the documented alternative, one volume (dev's
`demo`, `media.backend: pvc`), built under mocks as the sites layer builds them; and the config checks that
keep each backend where it can exist. env.php is read back by the real php binary."""

from __future__ import annotations

import functools
from typing import Any

from components.config import validate
from offline.engine import Recorded, Recording, run_program
from offline.references import pod_template
from offline.stackfile import settings_from_values
from tests.layer_helpers import problems, stack_values
from tests.sites_support import sites_program
from tests.test_sites_workloads import env_php

MEDIA = "/var/www/html/pub/media"


@functools.cache
def recording(stack: str) -> Recording:
    return run_program(settings_from_values(stack_values(stack), stack=stack), program=sites_program)


def objects(rec: Recording, namespace: str, kind: str) -> list[Recorded]:
    return [r for r in rec.own_objects() if r.inputs["kind"] == kind and r.inputs["metadata"].get("namespace") == namespace]


def pods(rec: Recording, namespace: str) -> dict[str, dict[str, Any]]:
    found = {}
    for r in rec.own_objects():
        template = pod_template(r.inputs)
        if template is not None and r.inputs["metadata"].get("namespace") == namespace:
            found[f"{r.inputs['kind']}/{r.inputs['metadata']['name']}"] = template["spec"]
    return found


def media_mounts(spec: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    """container name -> (what backs its pub/media mount, read-only?)."""
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    mounted = {}
    for container in spec["containers"] + spec.get("initContainers", []):
        for mount in container.get("volumeMounts", []):
            if mount["mountPath"] == MEDIA:
                volume = volumes[mount["name"]]
                backing = f"pvc:{volume['persistentVolumeClaim']['claimName']}" if "persistentVolumeClaim" in volume else "emptyDir"
                mounted[container["name"]] = (backing, bool(mount.get("readOnly")))
    return mounted


def test_pvc_store_keeps_media_on_one_retained_volume_every_magento_pod_writes():
    rec, config = recording("dev"), validate(stack_values("dev"))
    (claim,) = objects(rec, "site-demo", "PersistentVolumeClaim")
    assert claim.inputs["metadata"]["name"] == "media"
    assert claim.inputs["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim.inputs["spec"]["resources"]["requests"]["storage"] == "5Gi"
    assert claim.inputs["spec"]["storageClassName"] == config.storage.default_class
    # Removing the store (or a replace) never deletes the media: retained always, protected where the stack protects
    assert claim.retain_on_delete
    assert claim.protect == config.protect_stateful
    mounts = pods(rec, "site-demo")
    magento = {k: v for k, v in mounts.items() if k.split("/")[1] in {"php-fpm", "cron"} or k.split("/")[1].startswith(("consumer-", "release-"))}
    assert {"Deployment/php-fpm", "CronJob/cron", "Deployment/consumer-async"} <= set(magento)
    assert any(name.startswith("Job/release-") for name in magento)
    for name, spec in magento.items():
        own = media_mounts(spec)
        assert own, f"{name} does not mount pub/media"
        assert set(own.values()) == {("pvc:media", False)}, (name, own)
    # nginx serves the media files from the same volume, read-only
    assert media_mounts(mounts["Deployment/nginx"]) == {"nginx": ("pvc:media", True)}
    # Magento keeps the files locally: no remote storage driver and no object-storage keys in the pods
    assert env_php(rec, "demo")["remote_storage"] == {"driver": "file"}
    for spec in magento.values():
        for container in spec["containers"]:
            assert not {e["name"] for e in container.get("env", [])} & {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}


def test_s3_store_has_no_media_volume_only_an_image_cache():
    rec = recording("prod")
    for site in ("shop-fr", "shop-de"):
        assert objects(rec, f"site-{site}", "PersistentVolumeClaim") == []
        mounts = pods(rec, f"site-{site}")
        assert set(media_mounts(mounts["Deployment/php-fpm"]).values()) == {("emptyDir", False)}
        assert media_mounts(mounts["Deployment/nginx"]) == {}
        storage = env_php(rec, site)["remote_storage"]
        assert storage["driver"] == "aws-s3" and storage["prefix"] == f"{site}/"


def test_pvc_is_refused_with_several_failure_domains():
    values = stack_values("prod")
    values["sites"][0]["media"] = {"backend": "pvc", "pvcSize": "50Gi"}
    found = problems(values)
    assert "ReadWriteOnce" in found["sites[0].media.backend"] and "use s3" in found["sites[0].media.backend"]


def test_s3_without_a_media_bucket_is_refused_outside_prod():
    values = stack_values("dev")
    assert "backup" not in values
    values["sites"][0]["media"] = {"backend": "s3"}
    assert "backup.buckets.media" in problems(values)["sites[0].media.backend"]


def test_a_quota_below_the_store_at_its_maxima_is_refused_naming_the_key():
    values = stack_values("prod")
    values["sites"][0]["quota"]["cpu"] = "2"
    message = problems(values)["sites[0].quota.cpu"]
    assert message.startswith("2 is below the requests.cpu of the store at its maxima")
