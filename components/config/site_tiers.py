"""A store's workloads in the site definition: tier sizes from named size classes, stores, media, cron,
queue consumers, the release and egress.

A site names a size class (`size: small|medium|large`); each tier's resources and autoscaling bounds
come from that class, and any key under `tiers:` overrides it (merged key by key, so `tiers.phpFpm.maxReplicas: 8`
changes only that bound). `components/sizing.py` derives the processes inside each container from these
limits (FPM children, OPcache, Varnish storage, nginx workers, database connections).
"""

from __future__ import annotations

import copy
import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from components.config.base import ComputeResources, Model, sized
from components.config.types import Cidr, DnsLabel, DnsName, Quantity

SizeClass = Literal["small", "medium", "large"]


class WebTier(Model):
    """A Deployment scaled by an HPA on CPU (nginx, PHP-FPM)."""

    resources: ComputeResources = Field(description="requests and limits of one container of the tier")
    min_replicas: int = Field(ge=1, le=100, description="replicas kept running (HPA minimum; 1 on a single server is allowed)")
    max_replicas: int = Field(ge=1, le=200, description="replicas the HPA may scale to")
    target_cpu_percent: int = Field(70, ge=10, le=100, description="average CPU utilisation of requests the HPA aims for")

    @model_validator(mode="after")
    def _range(self) -> WebTier:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"minReplicas {self.min_replicas} exceeds maxReplicas {self.max_replicas}")
        return self


class FpmTier(WebTier):
    child_memory_mb: int = Field(
        128, ge=32, le=2048, description="average resident size of one FPM child (pm.max_children = what fits the limit)"
    )


class VarnishTier(Model):
    """Varnish as a StatefulSet of a fixed size: every pod is listed in env.php http_cache_hosts, so a
    purge reaches each replica (changing `replicas` re-renders env.php and rolls the PHP tiers)."""

    resources: ComputeResources = Field(description="requests and limits of one varnishd container")
    replicas: int = Field(ge=1, le=10, description="Varnish pods (each gets every purge)")


class Tiers(Model):
    nginx: WebTier = Field(description="the nginx tier (static files, FastCGI to PHP-FPM)")
    php_fpm: FpmTier = Field(description="the PHP-FPM tier (storefront, admin, API)")
    varnish: VarnishTier = Field(description="the full-page cache")
    cli: ComputeResources = Field(description="one cron run, one consumer or the release Job (Magento CLI containers)")
    release: ComputeResources = Field(description="the release Job (setup:upgrade)")


# The metrics exporter sidecar of each tier's pods (sites/exporters.py): fixed, not per size class. Go
# exporters of a few MiB each; Varnish's runs `varnishstat -j` per scrape (its VSM is mapped, not copied).
# Site.compute() counts one per nginx, PHP-FPM and Varnish pod, so the quota check holds them too.
EXPORTER_RESOURCES: dict[str, ComputeResources] = {
    "nginx": sized("10m", "16Mi", "100m", "32Mi"),
    "php-fpm": sized("10m", "16Mi", "100m", "32Mi"),
    "varnish": sized("20m", "32Mi", "200m", "64Mi"),
}

_SMALL_FPM = sized("500m", "1Gi", "2", "2Gi")  # components/sizing.py SMALL_FPM: keep equal
SIZE_CLASSES: dict[str, dict[str, Any]] = {
    "small": {
        "nginx": {"resources": sized("100m", "64Mi", "500m", "128Mi"), "minReplicas": 2, "maxReplicas": 4},
        "phpFpm": {"resources": _SMALL_FPM, "minReplicas": 2, "maxReplicas": 4, "childMemoryMb": 128},
        "varnish": {"resources": sized("250m", "1Gi", "1", "1Gi"), "replicas": 2},
        "cli": sized("100m", "512Mi", "1", "1Gi"),
        "release": sized("500m", "1Gi", "2", "4Gi"),
    },
    "medium": {
        "nginx": {"resources": sized("200m", "128Mi", "1", "256Mi"), "minReplicas": 2, "maxReplicas": 6},
        "phpFpm": {"resources": sized("1", "2Gi", "4", "4Gi"), "minReplicas": 3, "maxReplicas": 8, "childMemoryMb": 128},
        "varnish": {"resources": sized("500m", "2Gi", "2", "2Gi"), "replicas": 2},
        "cli": sized("250m", "1Gi", "1", "2Gi"),
        "release": sized("1", "2Gi", "2", "4Gi"),
    },
    "large": {
        "nginx": {"resources": sized("500m", "256Mi", "2", "512Mi"), "minReplicas": 3, "maxReplicas": 10},
        "phpFpm": {"resources": sized("2", "4Gi", "8", "8Gi"), "minReplicas": 4, "maxReplicas": 16, "childMemoryMb": 160},
        "varnish": {"resources": sized("1", "4Gi", "2", "4Gi"), "replicas": 3},
        "cli": sized("250m", "1Gi", "2", "4Gi"),
        "release": sized("1", "2Gi", "4", "8Gi"),
    },
}


def _dump(value: Any) -> Any:
    if isinstance(value, Model):
        return value.model_dump(by_alias=True)
    if isinstance(value, dict):
        return {k: _dump(v) for k, v in value.items()}
    return value


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def tiers_for(size: str, overrides: dict[str, Any] | None) -> dict[str, Any]:
    """The `tiers` mapping of a size class with the site's overrides merged in (stack-file keys)."""
    return _merge(_dump(SIZE_CLASSES[size]), overrides or {})


class StoreView(Model):
    """A Magento store view and the host names it answers on (MAGE_RUN_CODE by host)."""

    code: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$", description="the store view code (Magento's store `code`)")
    domains: list[DnsName] = Field(min_length=1, description="host names of this store view (each among the site's domains)")


class Media(Model):
    backend: Literal["s3", "pvc"] = Field(
        "s3", description="s3: Magento's aws-s3 remote storage on the provider's object storage; pvc: one ReadWriteOnce volume (single FPM replica)"
    )
    cdn_host: DnsName | None = Field(None, description="host name serving media and static files (web/secure/base_media_url, base_static_url)")
    pvc_size: Quantity = Field("20Gi", description="size of the media volume (backend pvc)")
    image_cache_size: Quantity = Field("2Gi", description="per-pod emptyDir for resized images (pub/media/catalog/product/cache)")


class Cron(Model):
    enabled: bool = Field(True, description="run cron:run every minute (false leaves the CronJob suspended)")
    active_deadline_seconds: int = Field(
        1800, ge=120, le=86400, description="a run is killed after this; rows still 'running' from before it are stale"
    )


class ConsumerGroup(Model):
    """One Deployment running the group's consumers, scaled by KEDA on the depth of the group's queues."""

    name: DnsLabel = Field(description="names the Deployment consumer-<name>")
    consumers: list[str] = Field(min_length=1, description="Magento consumer names (queue:consumers:list)")
    queues: list[str] = Field(min_length=1, description="RabbitMQ queues those consumers read (queue_consumer.xml `queue`)")
    min_replicas: int = Field(0, ge=0, le=20, description="0 scales the group to zero when its queues are empty")
    max_replicas: int = Field(2, ge=1, le=50, description="replicas KEDA may scale to")
    queue_length: int = Field(100, ge=1, le=1_000_000, description="messages per replica KEDA aims for")
    max_messages: int = Field(1000, ge=1, le=1_000_000, description="--max-messages: a consumer process exits (and restarts) after these")
    drain_seconds: int = Field(120, ge=10, le=3600, description="time a stopping pod gives its consumer to finish (grace period)")

    @field_validator("consumers", "queues")
    @classmethod
    def _names(cls, values: list[str]) -> list[str]:
        for value in values:
            if not re.match(r"^[A-Za-z0-9_.]{1,128}$", value):
                raise ValueError(f"{value!r} is not a consumer or queue name (letters, digits, '.', '_')")
        if len(set(values)) != len(values):
            raise ValueError("names must not repeat")
        return values

    @model_validator(mode="after")
    def _range(self) -> ConsumerGroup:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"minReplicas {self.min_replicas} exceeds maxReplicas {self.max_replicas}")
        return self


def default_consumers() -> list[ConsumerGroup]:
    """Magento 2.4.8's asynchronous work, grouped by what it touches (consumer -> queue from queue_consumer.xml)."""
    return [
        ConsumerGroup(name="async", consumers=["async.operations.all"], queues=["async.operations.all"]),
        ConsumerGroup(
            name="catalog",
            consumers=["product_action_attribute.update", "product_action_attribute.website.update"],
            queues=["product_action_attribute.update", "product_action_attribute.website.update"],
        ),
        ConsumerGroup(name="export", consumers=["exportProcessor"], queues=["export"], max_replicas=1),
        ConsumerGroup(name="media", consumers=["media.storage.catalog.image.resize"], queues=["media.storage.catalog.image.resize"]),
    ]


class Release(Model):
    maintenance: bool = Field(False, description="answer 503 at Varnish to everyone outside maintenanceAllowCidrs")
    maintenance_allow_cidrs: list[Cidr] = Field(default_factory=list, description="clients that still reach the store in maintenance")
    blue_green: bool = Field(
        True, description="env.php deployment.blue_green.enabled: old pods keep serving after the schema upgrade"
    )


class ExternalApi(Model):
    name: DnsLabel = Field(description="names the egress rule")
    cidrs: list[Cidr] = Field(min_length=1, description="networks of the API (payment, shipping, ERP)")
    ports: list[int] = Field(default_factory=lambda: [443], description="TCP ports")


class Egress(Model):
    object_storage_cidrs: list[Cidr] = Field(
        default_factory=list, description="networks of the object storage endpoint (media backend s3); empty allows TCP 443 to any address outside the cluster's networks"
    )
    apis: list[ExternalApi] = Field(default_factory=list, description="other services the PHP tiers, cron and consumers call")
