"""Where Loki and Tempo keep their data: the logs-and-traces bucket of the backup target, or a volume.

With a backup target (its `telemetry` bucket, components/backups), chunks and blocks go to object
storage and the volumes hold only write-ahead logs and caches; without one (dev), everything stays on the
volume. The bucket credentials reach the pods as environment variables from a Secret this program writes,
and the configurations reference them as `${AWS_ACCESS_KEY_ID}` (`-config.expand-env=true`), so no key is
ever in a ConfigMap or in chart values.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube
from components.backups.streams import TELEMETRY_PATHS
from components.layer import LayerArgs
from components.platform.observability.common import NAMESPACE

TELEMETRY = "telemetry"
CREDENTIALS_SECRET = "telemetry-bucket"
ENV_FROM = [{"secretRef": {"name": CREDENTIALS_SECRET}}]
ACCESS_KEY = "${AWS_ACCESS_KEY_ID}"
SECRET_KEY = "${AWS_SECRET_ACCESS_KEY}"


@dataclass(frozen=True)
class ObjectStore:
    bucket: str
    endpoint: str  # https URL
    region: str
    environment: str

    @property
    def host(self) -> str:
        return self.endpoint.removeprefix("https://").rstrip("/")

    @property
    def tempo_prefix(self) -> str:
        """Where Tempo writes (components/backups/streams.py TELEMETRY_PATHS): Tempo lists tenants at its prefix's
        top level, so it must not share it with Loki. Loki writes at the bucket's top level: its S3 client has no
        key prefix and the thanos client's `storage_prefix` allows letters and digits only, not `<env>/loki/`."""
        return f"{self.environment}/{TELEMETRY_PATHS['tempo']}".rstrip("/")


def object_store(args: LayerArgs) -> ObjectStore | None:
    """The telemetry bucket, when the stack has a backup target with one."""
    backup = args.config.backup
    if backup is None or args.backups is None:
        return None
    return ObjectStore(backup.buckets.telemetry, backup.endpoint, backup.region, args.config.environment)


def credentials_secret(args: LayerArgs, opts: pulumi.ResourceOptions) -> k8s.core.v1.Secret | None:
    """The bucket credentials as the Secret Loki and Tempo read their environment from."""
    if object_store(args) is None:
        return None
    assert args.backups is not None
    target = args.backups.target(TELEMETRY)
    return k8s.core.v1.Secret(
        "telemetry-bucket-credentials",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=CREDENTIALS_SECRET, namespace=NAMESPACE, labels=kube.labels("monitoring")),
        type="Opaque",
        string_data={"AWS_ACCESS_KEY_ID": target.access_key_id, "AWS_SECRET_ACCESS_KEY": target.secret_access_key},
        opts=opts,
    )
