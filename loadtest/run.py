"""Run the Locust profile headless in a subprocess, bounded in time, and read its statistics.

Locust patches the standard library with gevent when imported, so it never runs inside the caller's
process (pytest, the benchmark): `run()` starts `locust --headless` and parses its CSV statistics.
"""

from __future__ import annotations

import csv
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"


@dataclass(frozen=True)
class Row:
    name: str
    requests: int
    failures: int
    rps: float
    p50_ms: float
    p95_ms: float


@dataclass(frozen=True)
class Result:
    code: int
    rows: dict[str, Row]
    failures: list[str]
    output: str

    @property
    def total(self) -> Row:
        return self.rows["Aggregated"]


def _number(value: str | None) -> float:
    """A figure of Locust's CSV: empty or "N/A" (no successful request to time) reads 0."""
    return float(value) if value and value != "N/A" else 0.0


def _rows(path: Path) -> dict[str, Row]:
    out = {}
    with path.open() as handle:
        for line in csv.DictReader(handle):
            out[line["Name"]] = Row(line["Name"], int(line["Request Count"]), int(line["Failure Count"]),
                                    _number(line["Requests/s"]), _number(line["50%"]), _number(line["95%"]))
    return out


def run(host: str, *, users: int, seconds: int, site_host: str = "", as_gateway: bool = False,
        user_class: str = "Shopper", extra: list[str] | None = None, locustfile: Path = LOCUSTFILE) -> Result:
    """One headless Locust run against `host` (bounded: `seconds`, plus 10 s to stop)."""
    with tempfile.TemporaryDirectory() as tmp:
        prefix = Path(tmp) / "stats"
        argv = [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "--only-summary", "--host", host,
                "-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--stop-timeout", "5", "--csv", str(prefix),
                "--loglevel", "WARNING", *(["--site-host", site_host] if site_host else []),
                *(["--as-gateway"] if as_gateway else []), *(extra or []), user_class]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
        failures = []
        failures_csv = Path(f"{prefix}_failures.csv")
        if failures_csv.exists():
            with failures_csv.open() as handle:
                failures = [f"{r['Name']}: {r['Error']} (x{r['Occurrences']})" for r in csv.DictReader(handle)]
        rows = _rows(Path(f"{prefix}_stats.csv")) if Path(f"{prefix}_stats.csv").exists() else {}
        return Result(done.returncode, rows, failures, done.stdout[-4000:] + done.stderr[-4000:])
