"""The ZFS stage on OVH's disk layouts: the standard one (OS RAID1 across both NVMe disks) is refused
with a message that says what to do, and the custom layout's partitions (by-id -partN links) work."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.config.loader import ConfigError, validate
from components.config.model import StackConfig
from hosts.stages import Stage, stages_by_host
from tests.hosts_sandbox import Sandbox, stack_config

DISK_1 = "/dev/disk/by-id/nvme-SAMSUNG_MZQL23T8HCLS-00A07_S64HNE0T100001"
DISK_2 = "/dev/disk/by-id/nvme-SAMSUNG_MZQL23T8HCLS-00A07_S64HNE0T100002"
# What `lsblk --raw --output NAME,TYPE,MOUNTPOINT` shows under a disk of OVH's standard install.
OVH_RAID = "md2 raid1 /\nmd3 raid1 [SWAP]"


def with_disks(ids: list[str], allow_wipe: bool = False) -> StackConfig:
    config = stack_config("prod")
    raw = config.model_dump(by_alias=True, mode="json")
    raw["hosts"][0]["zfs"]["disks"] = [{"id": i, "allowWipe": allow_wipe} for i in ids]
    return validate(raw)


def zfs_stage(config: StackConfig) -> Stage:
    return next(s for s in stages_by_host(config.hosts, config.cluster, config.networking.vrack_block)["node-a"] if s.name == "zfs")


@pytest.mark.parametrize("allow_wipe", [False, True])
def test_standard_ovh_layout_is_refused_with_what_to_do(tmp_path: Path, allow_wipe: bool) -> None:
    sandbox = Sandbox(tmp_path)
    for disk in (DISK_1, DISK_2):
        sandbox.add_disk(disk, partitions=3, holders=OVH_RAID)
    result = sandbox.run(zfs_stage(with_disks([DISK_1, DISK_2], allow_wipe)))
    assert result.returncode != 0
    assert f"refusing {DISK_1}: it is in use, held by md2 (raid1), md3 (raid1), mounted: md2 on /, md3 on [SWAP]" in result.stderr
    assert "docs/runbooks/prepare-server.md" in result.stderr and "hosts[0].zfs.disks[0].id" in result.stderr
    assert not [c for c in sandbox.changes() if c.startswith(("wipefs", "zpool", "zfs"))]


def test_custom_layout_partitions_make_the_pool(tmp_path: Path) -> None:
    parts = [f"{DISK_1}-part4", f"{DISK_2}-part4"]
    sandbox = Sandbox(tmp_path)
    for part in parts:
        sandbox.add_disk(part)  # the free partition: no filesystem, nothing holds it
    assert sandbox.run(zfs_stage(with_disks(parts))).returncode == 0
    create = next(c for c in sandbox.changes() if c.startswith("zpool create"))
    assert create.endswith(f"tank mirror {parts[0]} {parts[1]}")


def test_a_mounted_partition_is_refused(tmp_path: Path) -> None:
    parts = [f"{DISK_1}-part4", f"{DISK_2}-part4"]
    sandbox = Sandbox(tmp_path)
    sandbox.add_disk(parts[0], signature="ext4", mount="/data")
    sandbox.add_disk(parts[1])
    result = sandbox.run(zfs_stage(with_disks(parts, allow_wipe=True)))
    assert result.returncode != 0 and f"refusing {parts[0]}: it is in use, mounted: nvme-" in result.stderr
    assert not [c for c in sandbox.changes() if c.startswith(("wipefs", "zpool create"))]


def test_two_partitions_of_one_disk_are_no_mirror() -> None:
    config = stack_config("prod")
    raw = config.model_dump(by_alias=True, mode="json")
    raw["hosts"][0]["zfs"]["disks"] = [{"id": f"{DISK_1}-part4"}, {"id": f"{DISK_1}-part5"}]
    with pytest.raises(ConfigError) as error:
        validate(raw)
    assert [str(p) for p in error.value.problems] == [
        f"hosts[0].zfs.disks: {DISK_1}-part4 and {DISK_1}-part5 are partitions of one disk: a mirror needs two disks"
    ]
