"""Host health metrics as a server produces them and Prometheus reads them: the collector run against
certificates made by the real openssl and a smartctl stand-in printing smartctl's real JSON shape, the ZED
zedlet fed ZEVENT_* variables as ZED passes them, every file through the real `promtool check metrics`, the
alerts through `promtool test rules`, the baseline stage that installs them, and node exporter's DaemonSet
as the chart renders it reading the directory they are written to."""

from __future__ import annotations

import re
import shutil
import ssl
import subprocess
import tarfile
import time
from pathlib import Path

import pytest
import yaml

from components import versions
from components.platform.observability import rules
from hosts.stages import FILES, TEXTFILE_DIR
from offline.chart_cache import chart_file
from tests.conftest import FIXTURES
from tests.hosts_sandbox import Sandbox, stack_config
from tests.layer_helpers import rendered
from tests.test_hosts_idempotency import stages_of

COLLECTOR = FILES / "magento-host-health.sh"
ZEDLET = FILES / "all-magento-metrics.sh"
SMARTCTL_JSON = FIXTURES / "hosts"


def tool(name: str) -> str:
    found = shutil.which(name)
    assert found, f"{name} is missing: it comes with Debian's packages in .ci/run"
    return found


def samples(text: str) -> dict[str, float]:
    """`name{labels} value` lines of a text exposition, by `name{labels}`."""
    return {m.group(1): float(m.group(2)) for m in re.finditer(r"^([a-z_]+(?:\{[^}]*\})?) (\S+)$", text, re.M)}


def promtool_check_metrics(text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool("promtool"), "check", "metrics"], input=text, capture_output=True, text=True, timeout=30, check=False)


def make_certificate(path: Path, days: int, *, with_key: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    key = path.with_suffix(".key")
    subprocess.run([tool("openssl"), "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(key), "-out", str(path), "-days", str(days), "-subj", f"/CN={path.stem}"],
                   check=True, capture_output=True, timeout=30)
    if with_key:  # the kubelet's rotated client certificate: certificate and key in one PEM
        path.write_text(path.read_text() + key.read_text())


def not_after(path: Path) -> int:
    """notAfter read by Python's own X.509 decoder, not by openssl or date as the script does."""
    return int(ssl.cert_time_to_seconds(ssl._ssl._test_decode_cert(str(path))["notAfter"]))  # type: ignore[attr-defined]


@pytest.fixture
def host(tmp_path: Path) -> dict[str, Path]:
    """A host with kubeadm's PKI, the kubelet's client certificate and three NVMe controllers."""
    pki = tmp_path / "etc/kubernetes/pki"
    make_certificate(pki / "apiserver.crt", 20)
    make_certificate(pki / "etcd" / "server.crt", 5)
    (pki / "sa.pub").write_text("not a certificate, not read\n")
    (pki / "broken.crt").write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    kubelet = tmp_path / "var/lib/kubelet/pki"
    make_certificate(kubelet / "kubelet-client-2026-12-01-00-00-00.pem", 365, with_key=True)
    (kubelet / "kubelet-client-current.pem").symlink_to("kubelet-client-2026-12-01-00-00-00.pem")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # smartctl's exit status is a bit mask: 8 = "disk failing" still comes with full JSON, 2 = device not opened.
    (bin_dir / "smartctl").write_text(f"""#!/bin/sh
[ "$1 $2" = "-j -a" ] || exit 1
case "$3" in
  /dev/nvme0) cat {SMARTCTL_JSON}/smartctl-nvme-healthy.json ;;
  /dev/nvme1) cat {SMARTCTL_JSON}/smartctl-nvme-failing.json; exit 8 ;;
  *) echo '{{"smartctl": {{"exit_status": 2, "messages": [{{"string": "Smartctl open device: '"$3"' failed: No such device", "severity": "error"}}]}}}}'; exit 2 ;;
esac
""")
    (bin_dir / "smartctl").chmod(0o755)
    return {"root": tmp_path, "pki": pki, "kubelet": kubelet, "bin": bin_dir, "out": tmp_path / "textfile"}


def run_collector(host: dict[str, Path], devices: str = "/dev/nvme0 /dev/nvme1 /dev/nvme2") -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": f"{host['bin']}:/usr/bin:/bin",
        "TEXTFILE_DIR": str(host["out"]),
        "CERTIFICATE_PATHS": f"{host['pki']} {host['kubelet']}/kubelet-client-current.pem {host['root']}/absent.pem",
        "NVME_DEVICES": devices,
        "ZEDLET": "/nonexistent",
    }
    return subprocess.run(["bash", str(COLLECTOR)], env=env, capture_output=True, text=True, timeout=60, check=False)


def test_collector_scripts_are_shellcheck_clean() -> None:
    done = subprocess.run([tool("shellcheck"), "--severity=style", str(COLLECTOR), str(ZEDLET)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout


def test_certificate_expiry_of_every_kubeadm_and_kubelet_certificate(host: dict[str, Path]) -> None:
    done = run_collector(host)
    assert done.returncode == 0, done.stderr
    text = (host["out"] / "magento_certificates.prom").read_text()
    assert promtool_check_metrics(text).returncode == 0, promtool_check_metrics(text).stdout
    values = samples(text)
    pki, kubelet = host["pki"], host["kubelet"]
    expected = {
        pki / "apiserver.crt": not_after(pki / "apiserver.crt"),
        pki / "etcd" / "server.crt": not_after(pki / "etcd" / "server.crt"),
        # labelled with the path the kubelet keeps current, not the dated file it points at
        kubelet / "kubelet-client-current.pem": not_after(kubelet / "kubelet-client-2026-12-01-00-00-00.pem"),
    }
    assert {k: v for k, v in values.items() if k.startswith("magento_certificate_not_after")} == {
        f'magento_certificate_not_after_timestamp_seconds{{path="{path}"}}': float(value) for path, value in expected.items()
    }
    assert abs(expected[pki / "etcd" / "server.crt"] - time.time() - 5 * 86400) < 300
    assert values["magento_certificate_read_errors"] == 1  # broken.crt; sa.pub and the absent file are not certificates


def test_nvme_health_from_smartctl_json(host: dict[str, Path]) -> None:
    done = run_collector(host)
    assert done.returncode == 0, done.stderr
    text = (host["out"] / "magento_nvme.prom").read_text()
    check = promtool_check_metrics(text)
    assert check.returncode == 0, check.stdout + check.stderr
    values = samples(text)
    assert {k: v for k, v in values.items() if 'device="nvme1"' in k} == {
        'magento_nvme_critical_warning{device="nvme1"}': 1,
        'magento_nvme_percentage_used_ratio{device="nvme1"}': 0.87,
        'magento_nvme_available_spare_ratio{device="nvme1"}': 0.05,
        'magento_nvme_available_spare_threshold_ratio{device="nvme1"}': 0.1,
        'magento_nvme_media_errors_total{device="nvme1"}': 12,
        'magento_nvme_temperature_celsius{device="nvme1"}': 51,
        'magento_nvme_info{device="nvme1",model="SAMSUNG MZQL23T8HCLS-00A07",serial="S64HNE0T100002",firmware="GDC5602Q"}': 1,
    }
    assert values['magento_nvme_critical_warning{device="nvme0"}'] == 0
    assert values['magento_nvme_available_spare_ratio{device="nvme0"}'] == 1
    # nvme2 could not be opened (exit status bit 1): counted, no made-up zeros for it
    assert values["magento_nvme_read_errors"] == 1 and 'device="nvme2"' not in text


def test_files_are_replaced_atomically_and_readable_by_node_exporter(host: dict[str, Path]) -> None:
    assert run_collector(host).returncode == 0
    assert run_collector(host, devices="/dev/nvme0").returncode == 0
    files = sorted(p.name for p in host["out"].iterdir())
    assert files == ["magento_certificates.prom", "magento_nvme.prom"]  # no temporary file left beside them
    for name in files:
        assert (host["out"] / name).stat().st_mode & 0o777 == 0o644  # node exporter runs as nobody
    assert 'device="nvme1"' not in (host["out"] / "magento_nvme.prom").read_text()  # rewritten, not appended


def zed(tmp: Path, *args: str, **event: str) -> subprocess.CompletedProcess[str]:
    """The zedlet as ZED runs it: ZEVENT_* variables, no arguments (or `init`, as magento-host-health runs it)."""
    bin_dir = tmp / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "zpool").write_text("#!/bin/sh\n[ \"$*\" = '-H -o name' ] || [ \"$*\" = 'list -H -o name' ] || exit 1\nprintf 'tank\\n'\n")
    (bin_dir / "zpool").chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "TEXTFILE_DIR": str(tmp / "textfile"), "STATE_FILE": str(tmp / "state" / "zfs-events"),
           **{f"ZEVENT_{k.upper()}": v for k, v in event.items()}}
    return subprocess.run(["bash", str(ZEDLET), *args], env=env, capture_output=True, text=True, timeout=30, check=False)


def test_zedlet_counts_checksum_io_and_statechange_events(tmp_path: Path) -> None:
    assert zed(tmp_path, "init").returncode == 0
    prom = tmp_path / "textfile" / "magento_zfs_events.prom"
    zero = samples(prom.read_text())
    assert zero == {f'magento_zfs_events_total{{pool="tank",class="{c}"}}': 0 for c in ("checksum", "io", "statechange")}
    for event in (
        {"subclass": "checksum", "pool": "tank", "vdev_path": "/dev/disk/by-id/nvme-a-part4"},
        {"subclass": "checksum", "pool": "tank", "vdev_path": "/dev/disk/by-id/nvme-a-part4"},
        {"subclass": "io", "pool": "tank"},
        {"subclass": "statechange", "pool": "tank", "vdev_state_str": "FAULTED"},
        {"subclass": "statechange", "pool": "tank", "vdev_state_str": "ONLINE"},  # back to health: not an error
        {"subclass": "scrub_finish", "pool": "tank"},  # not an error event
        {"subclass": "checksum", "pool": "backup"},  # a second pool gets its own counters
    ):
        done = zed(tmp_path, **event)
        assert done.returncode == 0, done.stderr
    assert zed(tmp_path, "init").returncode == 0  # the timer's init keeps the counts
    text = prom.read_text()
    check = promtool_check_metrics(text)
    assert check.returncode == 0, check.stdout + check.stderr
    assert samples(text) == {
        'magento_zfs_events_total{pool="backup",class="checksum"}': 1,
        'magento_zfs_events_total{pool="backup",class="io"}': 0,
        'magento_zfs_events_total{pool="backup",class="statechange"}': 0,
        'magento_zfs_events_total{pool="tank",class="checksum"}': 2,
        'magento_zfs_events_total{pool="tank",class="io"}': 1,
        'magento_zfs_events_total{pool="tank",class="statechange"}': 1,
    }
    assert prom.stat().st_mode & 0o777 == 0o644


def test_host_health_alerts_fire_and_stay_quiet_on_synthetic_series(tmp_path: Path) -> None:
    for name in ("certificates.yaml", "node.yaml", "zfs.yaml"):
        shutil.copy(rules.RULES_DIR / name, tmp_path / name)
    shutil.copy(FIXTURES / "observability" / "host_health_test.yaml", tmp_path / "host_health_test.yaml")
    done = subprocess.run([tool("promtool"), "test", "rules", "host_health_test.yaml"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    tested = set(re.findall(r"alertname: (\w+)", (tmp_path / "host_health_test.yaml").read_text()))
    assert tested == {"KubeadmCertificateExpiring", "KubeadmCertificateExpiryCritical", "NvmeCriticalWarning", "NvmeEnduranceUsed",
                      "NvmeMediaErrors", "NvmeSpareBelowThreshold", "ZfsErrorEvents", "HostHealthMetricsMissing"}


@pytest.mark.parametrize(("name", "zfs"), [("node-a", True), ("witness", False)])
def test_baseline_installs_the_collector_timer_and_zedlet(tmp_path: Path, name: str, zfs: bool) -> None:
    sandbox = Sandbox(tmp_path)
    stage = next(s for s in stages_of(stack_config("prod"), name) if s.key == "10-baseline")
    result = sandbox.run(stage)
    assert result.returncode == 0, result.stderr
    tree, changes = sandbox.tree(), sandbox.changes()
    assert tree["usr/local/sbin/magento-host-health"] == (COLLECTOR.read_text(), 0o755)
    timer = tree["etc/systemd/system/magento-host-health.timer"][0]
    assert "OnUnitActiveSec=5min" in timer and "WantedBy=timers.target" in timer
    assert f"Environment=TEXTFILE_DIR={TEXTFILE_DIR}" in tree["etc/systemd/system/magento-host-health.service"][0]
    assert (sandbox.root / TEXTFILE_DIR.lstrip("/")).is_dir()
    assert "systemctl enable --quiet magento-host-health.timer" in changes
    install = next(c for c in changes if c.startswith("apt-get") and "smartmontools" in c)
    assert ("zfs-zed" in install) is zfs and "jq" in install
    assert ("etc/zfs/zed.d/all-magento-metrics.sh" in tree) is zfs
    if zfs:
        assert tree["etc/zfs/zed.d/all-magento-metrics.sh"] == (ZEDLET.read_text(), 0o755)
        assert "systemctl enable --quiet zfs-zed" in changes and "systemctl restart zfs-zed" in changes
    sandbox.reset_calls()
    assert sandbox.run(stage).returncode == 0
    assert [c for c in sandbox.changes() if "zed" in c or "host-health" in c or "smartmontools" in c] == []


def test_node_exporter_daemonset_reads_the_textfile_directory(prod) -> None:
    daemonset = next(r.inputs for r in rendered(prod, "kube-prometheus-stack", "DaemonSet")
                     if r.inputs["metadata"]["name"].endswith("node-exporter"))
    spec = daemonset["spec"]["template"]["spec"]
    container = next(c for c in spec["containers"] if c["name"] == "node-exporter")
    assert f"--collector.textfile.directory={TEXTFILE_DIR}" in container["args"]
    # Pool state (node_zfs_zpool_state) comes from the zfs collector, on by default, reading the host's /proc.
    assert "--path.procfs=/host/proc" in container["args"] and not any("no-collector.zfs" in a for a in container["args"])
    # The chart's own extraArgs survive: a list in our values replaces the chart's.
    pin = versions.CHARTS["kube-prometheus-stack"]
    with tarfile.open(chart_file(pin)) as archive:
        chart_values = yaml.safe_load(archive.extractfile("kube-prometheus-stack/values.yaml").read())  # type: ignore[union-attr]
    assert set(chart_values["prometheus-node-exporter"]["extraArgs"]) <= set(container["args"])
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == TEXTFILE_DIR)
    assert mount["readOnly"] is True
    volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
    assert volume["hostPath"] == {"path": TEXTFILE_DIR, "type": "DirectoryOrCreate"}


def test_systemd_accepts_the_rendered_units(tmp_path: Path) -> None:
    """The service and timer as the baseline writes them, through the real `systemd-analyze verify` (the
    collector's path pointed at the sandbox copy, since verify checks that ExecStart is executable)."""
    sandbox = Sandbox(tmp_path / "host")
    assert sandbox.run(next(s for s in stages_of(stack_config("prod"), "node-a") if s.key == "10-baseline")).returncode == 0
    units = tmp_path / "units"
    units.mkdir()
    collector = sandbox.root / "usr/local/sbin/magento-host-health"
    for name in ("magento-host-health.service", "magento-host-health.timer"):
        text = (sandbox.root / "etc/systemd/system" / name).read_text()
        (units / name).write_text(text.replace("/usr/local/sbin/magento-host-health", str(collector)))

    def verify() -> subprocess.CompletedProcess[str]:
        return subprocess.run([tool("systemd-analyze"), "verify", "--man=no", str(units / "magento-host-health.timer"),
                               str(units / "magento-host-health.service")], capture_output=True, text=True, timeout=60, check=False)

    def ours(stderr: str) -> list[str]:
        # verify also loads the machine's default target and reports on every unit it pulls in (on CI, the
        # packages' own units such as garb.service); only what it says about our two units is ours to judge
        return [line for line in stderr.splitlines() if "magento-host-health" in line]

    done = verify()
    assert done.returncode == 0 and ours(done.stderr) == [], done.stderr
    timer = units / "magento-host-health.timer"
    timer.write_text(timer.read_text().replace("OnUnitActiveSec=5min", "OnUnitActiveSec=five minutes"))
    assert any("Failed to parse" in line for line in ours(verify().stderr))
