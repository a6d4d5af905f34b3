"""The data layer: Percona XtraDB Cluster, OpenSearch, RabbitMQ and Valkey.

A seam: the component exists in the graph, in its place in the layer order, and receives the
Kubernetes provider and the validated configuration; the issue that owns this layer fills build().
"""

from __future__ import annotations

from components.data.tenancy import SiteDataTenancy
from components.layer import Layer


class DataServices(Layer):
    TYPE = "magento:data:DataServices"
    # One tenancy per configured site, handed to the sites layer (components/data/tenancy.py).
    tenancy: dict[str, SiteDataTenancy] = {}
