"""What the data layer hands each store: where its data services are and the credentials of its tenancy.

This is the one contract between the data layer and the sites layer. The data layer builds one
`SiteDataTenancy` per configured site (its own schema and user, vhost, search user and index prefix,
Valkey stores and media prefix, every password generated with pulumi-random and kept secret); the sites
layer reads nothing else from the data layer. A site deployed as its own stack gets the same object back
from the platform stack's `siteTenancy` output through a StackReference (`from_output`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import pulumi

ValkeyPurpose = Literal["cache", "page_cache", "session"]


@dataclass(frozen=True)
class Credential:
    user: str
    password: pulumi.Output[str]  # always a secret Output


@dataclass(frozen=True)
class DatabaseTenancy:
    host: str  # the writer endpoint (HAProxy Service of the PXC cluster), cluster DNS name
    port: int
    name: str  # the site's schema
    credential: Credential


@dataclass(frozen=True)
class SearchTenancy:
    host: str
    port: int
    scheme: Literal["http", "https"]
    index_prefix: str  # Magento's `indexer.search.opensearch_index_prefix`; the site's role is limited to it
    credential: Credential
    # PEM of the CA that signs the HTTP certificate (public; components/data/search_tls.py): the only CA
    # the store adds to the system ones for this service. Required with scheme https.
    ca_cert: pulumi.Input[str] | None = None


@dataclass(frozen=True)
class QueueTenancy:
    host: str
    port: int
    vhost: str
    credential: Credential


@dataclass(frozen=True)
class Sentinel:
    hosts: tuple[str, ...]  # Sentinel endpoints, host:port
    master: str  # the monitored master's name


@dataclass(frozen=True)
class ValkeyStore:
    purpose: ValkeyPurpose
    host: str
    port: int
    database: int
    credential: Credential
    sentinel: Sentinel | None = None  # set where failover is automatic (prod)


@dataclass(frozen=True)
class MediaTenancy:
    endpoint: str
    region: str
    bucket: str
    prefix: str
    access_key_id: pulumi.Output[str]
    secret_access_key: pulumi.Output[str]


@dataclass(frozen=True)
class SiteDataTenancy:
    site: str
    database: DatabaseTenancy
    search: SearchTenancy
    queue: QueueTenancy
    valkey: dict[ValkeyPurpose, ValkeyStore]
    media: MediaTenancy | None = None


# --------------------------------------------------------------------------------------------- wire form

_SECRET_FIELDS = ("password", "access_key_id", "secret_access_key")


def _plain(value: Any) -> Any:
    """A dataclass tree as plain dicts (Outputs left in place, for the stack output to carry as secrets)."""
    if hasattr(value, "__dataclass_fields__"):
        return {name: _plain(getattr(value, name)) for name in value.__dataclass_fields__}
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    return value


def to_output(tenancy: SiteDataTenancy) -> pulumi.Output[dict[str, Any]]:
    """The tenancy as one secret stack output (the platform stack exports `siteTenancy[<site>]`)."""
    return pulumi.Output.secret(pulumi.Output.from_input(_plain(tenancy)))


def _credential(raw: pulumi.Output[dict[str, Any]], user: str, path: tuple[str, ...]) -> Credential:
    def pick(value: dict[str, Any]) -> str:
        for key in path:
            value = value[key]
        return str(value)

    return Credential(user=user, password=pulumi.Output.secret(raw.apply(pick)))


def from_output(site: str, plain: dict[str, Any], raw: pulumi.Output[dict[str, Any]]) -> SiteDataTenancy:
    """Rebuild the tenancy in a site stack: `plain` is the output's value without its secret fields (known
    at preview, from the StackReference's output details), `raw` the secret output the passwords come from."""

    def secret(*path: str) -> pulumi.Output[str]:
        def pick(value: dict[str, Any]) -> str:
            for key in path:
                value = value[key]
            return str(value)

        return pulumi.Output.secret(raw.apply(pick))

    db, search, queue = plain["database"], plain["search"], plain["queue"]
    valkey = {
        purpose: ValkeyStore(
            purpose=purpose,
            host=store["host"],
            port=int(store["port"]),
            database=int(store["database"]),
            credential=_credential(raw, store["credential"]["user"], ("valkey", purpose, "credential", "password")),
            sentinel=Sentinel(tuple(store["sentinel"]["hosts"]), store["sentinel"]["master"]) if store.get("sentinel") else None,
        )
        for purpose, store in plain["valkey"].items()
    }
    media = plain.get("media")
    return SiteDataTenancy(
        site=site,
        database=DatabaseTenancy(db["host"], int(db["port"]), db["name"],
                                 _credential(raw, db["credential"]["user"], ("database", "credential", "password"))),
        search=SearchTenancy(search["host"], int(search["port"]), search["scheme"], search["index_prefix"],
                             _credential(raw, search["credential"]["user"], ("search", "credential", "password")),
                             search.get("ca_cert")),
        queue=QueueTenancy(queue["host"], int(queue["port"]), queue["vhost"],
                           _credential(raw, queue["credential"]["user"], ("queue", "credential", "password"))),
        valkey=valkey,
        media=MediaTenancy(media["endpoint"], media["region"], media["bucket"], media["prefix"],
                           secret("media", "access_key_id"), secret("media", "secret_access_key")) if media else None,
    )


def public_fields(value: dict[str, Any]) -> dict[str, Any]:
    """The output's value with its secret fields removed (what a site stack may read as plain values)."""
    return {
        key: public_fields(item) if isinstance(item, dict) else item
        for key, item in value.items()
        if key not in _SECRET_FIELDS
    }
