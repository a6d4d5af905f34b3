"""Scripts the store's pods run (mounted from the ConfigMap `magento-release-scripts`)."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent
FILES = ("cron-stale.php", "consumers.sh", "kube.php", "release.sh")


def scripts() -> dict[str, str]:
    return {name: (HERE / name).read_text() for name in FILES}
