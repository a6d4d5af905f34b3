"""`python -m ops backups verify --stack <stack>`: is every backup stream fresh, non-empty and within retention?

For each stream of `components/backups/streams.py` (full database backups, binlogs, search snapshots, cluster
backups, etcd snapshots) it lists the stream's prefix in its bucket with boto3 and groups the objects into backups (a
directory per backup, or an object per backup), then checks:

- **exists**: at least one backup under the prefix (when there is none but the bucket holds objects
  elsewhere, the table names those prefixes: a consumer writing to the wrong place);
- **fresh**: the newest backup is younger than the stream's recovery-point objective (`backup.objectives`;
  for etcd snapshots the longest gap of `backup.etcd.schedule` plus an hour);
- **not empty**: the newest backup holds more than zero bytes;
- **retention honoured**: no backup is older than the stream's retention plus a day (the tool or the
  bucket's lifecycle prunes them).

It prints one table row per stream and exits 1 when any check fails (2 when it cannot run). Credentials come
from the environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, or any boto3 source) and are never printed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from components.backups.streams import GRACE_DAYS, Stream, objective_hours, retention_days, streams_of
from components.config.model import StackConfig

UTC = dt.UTC


@dataclass(frozen=True)
class Backup:
    """One backup: a directory of objects or a single object."""

    name: str
    newest: dt.datetime
    oldest: dt.datetime
    size: int
    objects: int


@dataclass
class Result:
    stream: str
    bucket: str
    prefix: str
    rpo_hours: int
    retention_days: int
    backups: list[Backup] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def group(stream: Stream, prefix: str, objects: Iterable[dict[str, Any]]) -> list[Backup]:
    """The backups among listed objects (`Key`, `LastModified`, `Size`), newest first."""
    units: dict[str, list[dict[str, Any]]] = {}
    for obj in objects:
        rest = obj["Key"][len(prefix):]
        if not rest or (stream.match and not rest.startswith(stream.match)):
            continue
        if stream.unit == "directory":
            if "/" not in rest:
                continue  # a loose object beside the backup directories is no backup
            name = rest.split("/", 1)[0]
        else:
            if "/" in rest:
                continue
            name = rest
        units.setdefault(name, []).append(obj)
    backups = [
        Backup(name, max(o["LastModified"] for o in items), min(o["LastModified"] for o in items),
               sum(int(o["Size"]) for o in items), len(items))
        for name, items in units.items()
    ]
    return sorted(backups, key=lambda b: b.newest, reverse=True)


def _list(client: Any, bucket: str, prefix: str) -> list[dict[str, Any]]:
    paginator = client.get_paginator("list_objects_v2")
    found: list[dict[str, Any]] = []
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        found.extend(page.get("Contents") or [])
    return found


def _elsewhere(client: Any, bucket: str, prefix: str) -> list[str]:
    """Top-level prefixes of the bucket outside `prefix` that hold objects (bounded: 1000 keys)."""
    page = client.list_objects_v2(Bucket=bucket, MaxKeys=1000)
    tops = {obj["Key"].split("/", 1)[0] + "/" for obj in page.get("Contents") or [] if not obj["Key"].startswith(prefix)}
    return sorted(tops)


def verify_stream(client: Any, config: StackConfig, stream: Stream, now: dt.datetime) -> Result:
    assert config.backup is not None
    bucket = getattr(config.backup.buckets, stream.purpose)
    prefix = stream.prefix(config.environment)
    rpo_hours = objective_hours(config, stream.key)
    result = Result(stream.key, bucket, prefix, rpo_hours, retention_days(config, stream.key))
    try:
        result.backups = group(stream, prefix, _list(client, bucket, prefix))
    except Exception as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", "") if hasattr(exc, "response") else ""
        result.problems.append(f"cannot list s3://{bucket}/{prefix}: {type(exc).__name__} {code}".strip())
        return result
    if not result.backups:
        # Top-level prefixes another stream of the same bucket writes to are no hint (velero: Velero and etcd).
        neighbours = [s.prefix(config.environment) for s in streams_of(config) if s.purpose == stream.purpose and s != stream]
        other = [top for top in _elsewhere(client, bucket, prefix) if not any(n.startswith(top) for n in neighbours)]
        hint = f" (objects under {', '.join(other)}: wrong prefix?)" if other else ""
        result.problems.append(f"no backup under s3://{bucket}/{prefix}{hint}")
        return result
    newest = result.backups[0]
    age = now - newest.newest
    if age > dt.timedelta(hours=rpo_hours):
        result.problems.append(f"newest backup {newest.name} is {_age(age)} old: older than the {rpo_hours} h objective")
    if newest.size == 0:
        result.problems.append(f"newest backup {newest.name} is empty (0 bytes in {newest.objects} objects)")
    oldest = min(b.oldest for b in result.backups)
    limit = dt.timedelta(days=result.retention_days + GRACE_DAYS)
    if now - oldest > limit:
        result.problems.append(
            f"retention breached: a backup is {_age(now - oldest)} old, kept {result.retention_days} d (+{GRACE_DAYS} d grace)"
        )
    return result


def verify(client: Any, config: StackConfig, now: dt.datetime | None = None) -> list[Result]:
    if config.backup is None:
        raise ValueError(f"stack {config.environment} has no backup target (backup is not set)")
    now = now or dt.datetime.now(UTC)
    return [verify_stream(client, config, stream, now) for stream in streams_of(config)]


def _age(delta: dt.timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} d"


def table(results: list[Result], now: dt.datetime) -> str:
    header = ("stream", "location", "backups", "newest", "age", "size", "rpo", "keep", "status")
    rows = [header]
    for r in results:
        newest = r.backups[0] if r.backups else None
        rows.append((
            r.stream, f"s3://{r.bucket}/{r.prefix}", str(len(r.backups)),
            newest.name if newest else "-", _age(now - newest.newest) if newest else "-",
            _size(newest.size) if newest else "-", f"{r.rpo_hours} h", f"{r.retention_days} d",
            "ok" if r.ok else "FAIL",
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for r in results:
        lines += [f"FAIL {r.stream}: {p}" for p in r.problems]
    return "\n".join(lines)


def _size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def s3_client(config: StackConfig) -> Any:
    """A boto3 S3 client for the stack's endpoint (credentials from the environment, path-style addressing)."""
    import boto3
    from botocore.config import Config

    assert config.backup is not None
    return boto3.client("s3", endpoint_url=config.backup.endpoint, region_name=config.backup.region,
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}))
