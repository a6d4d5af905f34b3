"""The storage layer: LocalPV-ZFS, the StorageClasses and the VolumeSnapshotClass.

A seam: the component exists in the graph, in its place in the layer order, and receives the
Kubernetes provider and the validated configuration; the issue that owns this layer fills build().
"""

from __future__ import annotations

from components.layer import Layer


class Storage(Layer):
    TYPE = "magento:storage:Storage"
