"""`app/etc/env.php` of a store, from its data tenancy and settings, as one secret Output.

What it wires (and the reference checks in tests/test_sites_workloads.py prove):

* `db`: the site's schema and user through the PXC HAProxy writer Service (one writer: no Galera
  certification conflicts), `indexer` the same connection;
* `session` and `cache` (default, and page_cache on the cache store unless the data layer gives one:
  Varnish is the full-page cache): the site's own Valkey stores; with Sentinel the `server`
  is the Sentinel list and `sentinel_master` names the monitored primary (Cm_Cache_Backend_Redis and
  php-redis-session-abstract both read it), a per-release `id_prefix` so old and new pods never share keys;
  the `lock` provider is the cache (MySQL GET_LOCK is local to one Galera node);
* `queue.amqp`: the site's RabbitMQ vhost and user, `default_connection` amqp (so queue depth is real
  and KEDA can scale on it), `consumers_wait_for_messages` 0 (a consumer drains and exits; see consumers.py),
  `cron_consumers_runner.cron_run` false (consumers are Deployments, never cron children);
* OpenSearch host, credentials and the site's index prefix (`system.default.catalog.search`);
* `http_cache_hosts`: every Varnish pod's purge listener by its stable name (a purge reaches every replica);
* `web/secure/offloader_header` X-Forwarded-Proto (no redirect loop behind the Gateway);
* `remote_storage` aws-s3 on the provider's endpoint (path-style) with the media prefix (the store's own
  keys from the tenancy with `backup.mediaCredentials: ovh` on a directly delivered site; otherwise none here:
  the AWS SDK's environment credentials from the store's Secret `media-credentials`, made by hand with
  `manual`, or by External Secrets for a gitops site), or the local file system with the pvc backend; base media/static URLs on the CDN host when one is set;
* `crypt.key` from pulumi-random, `backend.frontName` the admin path, `deployment.blue_green`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi

from components.data.tenancy import ValkeyStore
from sites.common import SiteContext
from sites.runtime.varnish import PURGE_PORT

_KEY = re.compile(r"^[A-Za-z0-9_./-]+$")


def php_literal(value: Any, indent: int = 0) -> str:
    """A PHP literal of a plain Python value (dict, list, str, int, bool, None)."""
    pad, inner = "    " * indent, "    " * (indent + 1)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, Mapping):
        if not value:
            return "[]"
        lines = []
        for key, item in value.items():
            if not _KEY.match(str(key)):
                raise ValueError(f"env.php key {key!r} is not a plain key")
            lines.append(f"{inner}{php_literal(str(key))} => {php_literal(item, indent + 1)},")
        return "[\n" + "\n".join(lines) + f"\n{pad}]"
    if isinstance(value, Sequence):
        if not value:
            return "[]"
        return "[\n" + "\n".join(f"{inner}{php_literal(item, indent + 1)}," for item in value) + f"\n{pad}]"
    raise TypeError(f"cannot write {type(value).__name__} into env.php")


def varnish_hosts(ctx: SiteContext) -> list[dict[str, Any]]:
    """Every Varnish pod by its StatefulSet name under the headless Service, at the purge listener."""
    from sites.varnish import PEERS_SERVICE, VARNISH_NAME

    return [
        {"host": f"{VARNISH_NAME}-{i}.{PEERS_SERVICE}.{ctx.namespace}.svc.cluster.local", "port": PURGE_PORT}
        for i in range(ctx.site.tiers.varnish.replicas)
    ]


def _valkey_server(store: ValkeyStore) -> tuple[str, int, dict[str, Any]]:
    """(server, port, extra options) of a Valkey store: its Sentinels when it has them."""
    if store.sentinel is None:
        return store.host, store.port, {}
    return ",".join(f"tcp://{h}" for h in store.sentinel.hosts), 26379, {"sentinel_master": store.sentinel.master}


def _cache_backend(store: ValkeyStore, password: str, prefix: str) -> dict[str, Any]:
    server, port, extra = _valkey_server(store)
    return {
        "id_prefix": prefix,
        "backend": "Magento\\Framework\\Cache\\Backend\\Redis",
        "backend_options": {
            "server": server,
            "port": str(port),
            "database": str(store.database),
            "username": store.credential.user,
            "password": password,
            "compress_data": "1",
            "compression_lib": "",
            **extra,
        },
    }


def settings(ctx: SiteContext, secrets: Mapping[str, str]) -> dict[str, Any]:
    """The env.php array with the secret values filled in (`secrets` is resolved Outputs)."""
    site, tenancy = ctx.site, ctx.tenancy
    db, search, queue = tenancy.database, tenancy.search, tenancy.queue
    prefix = f"{site.name}_{site.release_name}_"
    connection = {
        "host": f"{db.host}:{db.port}",
        "dbname": db.name,
        "username": db.credential.user,
        "password": secrets["db"],
        "model": "mysql4",
        "engine": "innodb",
        "initStatements": "SET NAMES utf8mb4;",
        "active": "1",
        "driver_options": {"1014": False},  # PDO::MYSQL_ATTR_SSL_VERIFY_SERVER_CERT off inside the cluster
    }
    session_store = tenancy.valkey["session"]
    server, _, extra = _valkey_server(session_store)
    session_redis: dict[str, Any] = {
        "host": server if session_store.sentinel is None else session_store.host,
        "port": str(session_store.port),
        "database": str(session_store.database),
        "password": secrets["session"],
        "timeout": "2.5",
        "persistent_identifier": "",
        "compression_threshold": "2048",
        "compression_library": "gzip",
        "log_level": "3",
        "max_concurrency": "20",
        "break_after_frontend": "5",
        "break_after_adminhtml": "30",
        "first_lifetime": "600",
        "bot_first_lifetime": "60",
        "bot_lifetime": "7200",
        "disable_locking": "0",
        "min_lifetime": "60",
        "max_lifetime": "2592000",
    }
    if session_store.sentinel is not None:
        session_redis.update(
            {"sentinel_servers": server, "sentinel_master": extra["sentinel_master"], "sentinel_verify_master": "1",
             "sentinel_connect_retries": "5"}
        )
    media = tenancy.media if ctx.media_keys_in_env_php else None
    page_store = tenancy.valkey.get("page_cache", tenancy.valkey["cache"])
    config_default: dict[str, Any] = {
        "web": {"secure": {"offloader_header": "X-Forwarded-Proto"}, "cookie": {"cookie_httponly": "1"}},
        "system": {"full_page_cache": {"caching_application": "2", "ttl": "86400"}},
        "catalog": {
            "search": {
                "engine": "opensearch",
                "opensearch_server_hostname": f"{search.scheme}://{search.host}",
                "opensearch_server_port": str(search.port),
                "opensearch_index_prefix": search.index_prefix,
                "opensearch_enable_auth": "1",
                "opensearch_username": search.credential.user,
                "opensearch_password": secrets["search"],
                "opensearch_server_timeout": "15",
            }
        },
        "dev": {"js": {"merge_files": "0"}, "css": {"merge_css_files": "0"}},
    }
    if site.media.cdn_host:
        base = f"https://{site.media.cdn_host}/"
        config_default["web"]["secure"].update({"base_media_url": f"{base}media/", "base_static_url": f"{base}static/"})
        config_default["web"]["unsecure"] = {"base_media_url": f"{base}media/", "base_static_url": f"{base}static/"}
    env: dict[str, Any] = {
        "backend": {"frontName": site.edge.admin_path},
        "crypt": {"key": secrets["crypt"]},
        "db": {"table_prefix": "", "connection": {"default": connection, "indexer": connection}},
        "resource": {"default_setup": {"connection": "default"}},
        "x-frame-options": "SAMEORIGIN",
        "MAGE_MODE": "production",
        "directories": {"document_root_is_pub": True},
        "session": {"save": "redis", "redis": session_redis},
        "cache": {
            "frontend": {
                "default": _cache_backend(tenancy.valkey["cache"], secrets["cache"], prefix),
                # Varnish is the full-page cache; Magento's page_cache frontend shares the cache store
                # (its own instance when the data layer gives one) under its own prefix.
                "page_cache": _cache_backend(page_store, secrets["page_cache"], f"{prefix}fpc_"),
            },
            "allow_parallel_generation": False,
        },
        "lock": {"provider": "cache"},
        "queue": {
            "amqp": {
                "host": queue.host,
                "port": str(queue.port),
                "user": queue.credential.user,
                "password": secrets["queue"],
                "virtualhost": queue.vhost,
                "ssl": "",
            },
            "default_connection": "amqp",
            "consumers_wait_for_messages": 0,
        },
        "cron_consumers_runner": {"cron_run": False},
        "http_cache_hosts": varnish_hosts(ctx),
        "deployment": {"blue_green": {"enabled": site.release.blue_green}},
        "cache_types": {name: 1 for name in (
            "config", "layout", "block_html", "collections", "reflection", "db_ddl", "compiled_config", "eav",
            "customer_notification", "config_integration", "config_integration_api", "full_page", "config_webservice",
            "translate",
        )},
        "system": {"default": config_default},
        "install": {"date": "Thu, 01 Jan 2026 00:00:00 +0000"},
    }
    if media is not None:
        env["remote_storage"] = {
            "driver": "aws-s3",
            "prefix": media.prefix,
            "config": {
                "bucket": media.bucket,
                "region": media.region,
                "endpoint": media.endpoint,
                "use_path_style_endpoint": True,
                "credentials": {"key": secrets["media_key"], "secret": secrets["media_secret"]},
            },
        }
    elif site.media.backend == "s3":
        location = ctx.media_location if tenancy.media is None else tenancy.media
        if location is None:
            raise ValueError(f"site {site.name}: media backend s3 needs the media bucket (backup.buckets.media)")
        # No keys in env.php: the AWS SDK takes them from the environment (Secret media-credentials).
        env["remote_storage"] = {
            "driver": "aws-s3",
            "prefix": location.prefix,
            "config": {"bucket": location.bucket, "region": location.region, "endpoint": location.endpoint,
                       "use_path_style_endpoint": True},
        }
    else:
        env["remote_storage"] = {"driver": "file"}
    return env


def render(ctx: SiteContext, secrets: Mapping[str, str]) -> str:
    return (
        f"<?php\n// app/etc/env.php of site {ctx.site.name}, release {ctx.site.release_name} "
        "(generated by sites/env_php.py; never edit in a pod)\nreturn "
        + php_literal(settings(ctx, secrets))
        + ";\n"
    )


def env_php(ctx: SiteContext, crypt_key: pulumi.Output[str]) -> pulumi.Output[str]:
    """env.php as a secret Output: the text with every password resolved."""
    tenancy = ctx.tenancy
    outputs: dict[str, pulumi.Output[str]] = {
        "db": tenancy.database.credential.password,
        "search": tenancy.search.credential.password,
        "queue": tenancy.queue.credential.password,
        "session": tenancy.valkey["session"].credential.password,
        "cache": tenancy.valkey["cache"].credential.password,
        "page_cache": tenancy.valkey.get("page_cache", tenancy.valkey["cache"]).credential.password,
        "crypt": crypt_key,
    }
    if ctx.media_keys_in_env_php:
        assert tenancy.media is not None
        outputs["media_key"] = tenancy.media.access_key_id
        outputs["media_secret"] = tenancy.media.secret_access_key
    resolved = pulumi.Output.all(**outputs)
    return pulumi.Output.secret(resolved.apply(lambda values: render(ctx, values)))
