"""How the offline plan scales with the number of sites.

Plans the `prod` stack with 1, 10 and 50 generated sites and prints, for each: resources registered,
seconds and peak memory of the program run under mocks ("run") and of the whole plan ("plan": the run,
the files, the schema, reference and policy checks, the summary). For comparison it prints the floor:
the time and memory of registering the same number of bare resources under the mock engine with
nothing else (no config, no components).

Run: `make benchmark` (or .venv/bin/python benchmarks/plan_scaling.py). Each figure is the median of
three runs in this process; peak memory is measured with tracemalloc around a single run.
"""

from __future__ import annotations

import contextlib
import copy
import io
import statistics
import sys
import tempfile
import time
import tracemalloc
import types
from pathlib import Path

import pulumi
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from offline.engine import run_program
from offline.plan import plan_settings
from offline.stackfile import ROOT, settings_from_values

SITE_COUNTS = (1, 10, 50)
REPEATS = 3


def prod_with_sites(count: int) -> dict:
    values = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())["config"]
    template = values["magento:sites"][0]
    sites = []
    for i in range(count):
        site = copy.deepcopy(template)
        site["name"] = f"store-{i:03d}"
        site["domains"] = [f"www.store-{i:03d}.example.com"]
        site["quota"] = {"cpu": "4", "memory": "8Gi", "storage": "20Gi", "pods": 40}
        sites.append(site)
    values["magento:sites"] = sites
    return values


def bare_program(count: int):
    def program() -> None:
        for i in range(count):
            pulumi.CustomResource("bench:index:Bare", f"bare-{i}", {"value": i})

    return program


def measure(fn) -> tuple[float, int, int]:
    seconds = []
    resources = 0
    for _ in range(REPEATS):
        start = time.perf_counter()
        resources = len(fn().resources)
        seconds.append(time.perf_counter() - start)
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return statistics.median(seconds), peak, resources


def full_plan(settings, out: Path):
    """The whole offline plan, quietly; the result carries the number of resources like a Recording."""
    with contextlib.redirect_stdout(io.StringIO()):
        code, summary = plan_settings(settings, out)
    if code != 0:
        raise SystemExit(f"the plan failed (exit code {code})")
    return types.SimpleNamespace(resources=range(summary["resources"]))


def main() -> None:
    print(
        f"{'sites':>5} {'resources':>9} {'run s':>7} {'run MiB':>8} {'plan s':>7} {'plan MiB':>9} "
        f"{'floor s':>8} {'floor MiB':>10} {'run/floor':>9}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for count in SITE_COUNTS:
            settings = settings_from_values(prod_with_sites(count), stack="prod")
            run_s, run_peak, resources = measure(lambda settings=settings: run_program(settings))
            plan_s, plan_peak, _ = measure(lambda settings=settings: full_plan(settings, Path(tmp) / "plan"))
            floor_settings = settings_from_values({"environment": "prod"}, stack="floor")
            floor_program = bare_program(resources)
            floor_s, floor_peak, _ = measure(lambda fs=floor_settings, fp=floor_program: run_program(fs, program=fp))
            print(
                f"{count:>5} {resources:>9} {run_s:>7.2f} {run_peak / 2**20:>8.1f} {plan_s:>7.2f} {plan_peak / 2**20:>9.1f} "
                f"{floor_s:>8.2f} {floor_peak / 2**20:>10.1f} {run_s / floor_s:>9.2f}"
            )


if __name__ == "__main__":
    main()
