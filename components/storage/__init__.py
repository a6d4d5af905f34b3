"""The storage layer: LocalPV-ZFS, the StorageClasses and the VolumeSnapshotClass (`layer.py` composes them)."""

from components.storage.layer import Storage

__all__ = ["Storage"]
