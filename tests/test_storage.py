"""The storage layer under mocks: LocalPV-ZFS, StorageClasses, the VolumeSnapshotClass."""

from __future__ import annotations

from tests.layer_helpers import chart, comes_after, in_layer, kind, problems, schema_problems, stack_values


def classes(rec) -> dict[str, dict]:
    return {r.inputs["metadata"]["name"]: r.inputs for r in kind(rec, "StorageClass")}


def test_zfs_is_the_default_class_and_the_database_class_is_tuned(stack_recording):
    found = classes(stack_recording)
    assert set(found) == {"zfs", "zfs-db"}
    default = [n for n, c in found.items() if c["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"]
    assert default == ["zfs"]
    assert found["zfs-db"]["parameters"]["recordsize"] == "16k"
    assert found["zfs"]["parameters"]["recordsize"] == "128k"
    for sc in found.values():
        assert sc["provisioner"] == "zfs.csi.openebs.io"
        assert sc["volumeBindingMode"] == "WaitForFirstConsumer"
        assert sc["allowVolumeExpansion"] is True
        assert sc["parameters"]["compression"] == "lz4"
        assert sc["parameters"]["poolname"] == "tank"
        assert sc["parameters"]["fstype"] == "zfs"


def test_reclaim_policy_follows_protect_stateful(prod, dev):
    assert {c["reclaimPolicy"] for c in classes(prod).values()} == {"Retain"}
    assert {c["reclaimPolicy"] for c in classes(dev).values()} == {"Delete"}


def test_storage_settings_from_config(run):
    values = stack_values("prod")
    values["storage"] = {"defaultClass": "local", "databaseClass": "mysql", "databaseRecordsize": "8k", "compression": "zstd"}
    for host in values["hosts"]:
        if "zfs" in host:
            host["zfs"]["pool"] = "data"
    found = classes(run(values, stack="prod"))
    assert set(found) == {"local", "mysql"}
    assert {k: found["mysql"]["parameters"][k] for k in ("recordsize", "compression", "poolname")} == {
        "recordsize": "8k", "compression": "zstd", "poolname": "data"
    }


def test_volume_snapshot_class_is_labelled_for_velero(stack_recording):
    (snapshot_class,) = kind(stack_recording, "VolumeSnapshotClass")
    assert snapshot_class.inputs["driver"] == "zfs.csi.openebs.io"
    assert snapshot_class.inputs["metadata"]["labels"]["velero.io/csi-volumesnapshot-class"] == "true"


def test_exactly_one_snapshot_controller(stack_recording):
    values = chart(stack_recording, "zfs-localpv").inputs["values"]
    assert values["crds"]["csi"]["volumeSnapshots"]["enabled"] is True
    assert values["zfsController"]["replicas"] == 1
    charts = stack_recording.of_type("kubernetes:helm.sh/v4:Chart")
    assert [c.name for c in charts if "snapshot" in c.inputs["chart"]] == []
    workloads = [r for r in stack_recording.kubernetes_objects() if "snapshot-controller" in r.inputs["metadata"]["name"]]
    assert workloads == []


def test_classes_and_snapshot_class_come_after_the_driver(stack_recording):
    driver = chart(stack_recording, "zfs-localpv")
    for record in kind(stack_recording, "StorageClass") + kind(stack_recording, "VolumeSnapshotClass"):
        assert comes_after(stack_recording, record, driver)
    assert comes_after(stack_recording, driver, chart(stack_recording, "cilium"))


def test_every_storage_object_is_schema_valid(stack_recording):
    assert schema_problems(in_layer(stack_recording, "storage")) == []


def test_bad_record_size_is_rejected():
    values = stack_values("prod")
    values["storage"]["databaseRecordsize"] = "13k"
    assert "storage.databaseRecordsize" in problems(values)


def test_hosts_with_different_pool_names_are_rejected():
    values = stack_values("prod")
    values["hosts"][1]["zfs"]["pool"] = "other"
    found = problems(values)
    assert "hosts[1].zfs.pool" in found
    assert "hosts[0].zfs.pool" in found["hosts[1].zfs.pool"]
