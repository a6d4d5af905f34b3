"""Configuration of the StorageClasses on LocalPV-ZFS."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from components.config.base import Model


class Storage(Model):
    default_class: str = Field("zfs", pattern=r"^[a-z0-9-]{1,63}$", description="name of the default StorageClass")
    database_class: str = Field("zfs-db", pattern=r"^[a-z0-9-]{1,63}$", description="name of the StorageClass tuned for databases")
    database_recordsize: Literal["8k", "16k", "32k", "64k", "128k"] = Field("16k", description="ZFS recordsize of database volumes")
    compression: Literal["lz4", "zstd", "off"] = Field("lz4", description="ZFS compression of volumes")
