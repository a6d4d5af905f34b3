"""Each store's tenancy as the platform stack exports it (`siteTenancy`): its queue vhost, its own Valkey
stores (through Sentinel in prod), and no credential shared with another store."""

from __future__ import annotations

from typing import Any

import pytest

from components.data import sentinel as sn
from components.data.tenancy import public_fields
from offline.engine import Recording

SECRET_KEYS = ("password", "access_key_id", "secret_access_key")


def _tenancy(rec: Recording) -> dict[str, Any]:
    output = rec.stack_outputs["siteTenancy"]
    assert output["secret"] is True
    return output["value"]


def _secrets(value: Any, path: str = "") -> dict[str, str]:
    found: dict[str, str] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            if key in SECRET_KEYS:
                found[f"{path}.{key}"] = item
            else:
                found.update(_secrets(item, f"{path}.{key}"))
    return found


def test_prod_stores_have_queue_and_valkey_tenancy(prod: Recording):
    tenancy = _tenancy(prod)
    assert set(tenancy) == {"shop-fr", "shop-de"}
    for site, value in tenancy.items():
        assert value["queue"]["vhost"] == site and value["queue"]["credential"]["user"] == f"{site}-amqp"
        assert set(value["valkey"]) == {"cache", "session"}
        for purpose, store in value["valkey"].items():
            assert store["host"] == f"valkey-{site}-{purpose}.valkey.svc.cluster.local" and store["port"] == 6379
            assert store["credential"]["user"] == site
            assert store["sentinel"] == {"hosts": list(sn.HOSTS), "master": f"{site}-{purpose}"}
        # the store's own media key (tests/test_media_keys.py), never the platform's (it could delete every backup)
        assert value["media"]["prefix"] == f"prod/sites/{site}/"


def test_dev_has_no_sentinel_and_no_media_bucket(dev: Recording):
    (value,) = _tenancy(dev).values()
    assert all(store["sentinel"] is None for store in value["valkey"].values())
    assert value["media"] is None


@pytest.mark.parametrize("part", ["queue", "valkey"])
def test_no_credential_is_shared_between_stores(prod: Recording, part: str):
    tenancy = _tenancy(prod)
    per_site = {site: set(_secrets(value[part]).values()) for site, value in tenancy.items()}
    a, b = per_site.values()
    assert a and b and not a & b


def test_a_site_stack_reads_only_public_fields_as_plain_values(prod: Recording):
    value = _tenancy(prod)["shop-fr"]
    assert _secrets(public_fields(value)) == {}
    assert public_fields(value)["valkey"]["session"]["sentinel"]["master"] == "shop-fr-session"
