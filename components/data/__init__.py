"""The data layer: Percona XtraDB Cluster, OpenSearch, RabbitMQ and Valkey (`layer.py` composes them)."""

from components.data.layer import DataServices

__all__ = ["DataServices"]
