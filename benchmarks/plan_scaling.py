"""How the offline plan scales with the number of sites, against the bare registration floor.

Plans the `prod` stack with 1, 10 and 50 generated sites (copies of its first site, each with its own name
and domain, so every site carries whatever the program builds for a site: tenancy, edge, workloads) and
prints, for each: resources registered, seconds and peak memory of the program run under mocks ("run") and
of the whole plan ("plan": the run, the chart renders, the files, the schema, reference, charts, providers
and capacity checks, the policy pack, the summary; on a machine with a second core the policy pack runs
beside the others, offline/background.py). The floor is the time of registering the same number
of bare resources under the same mock engine with nothing else (no config, no components, no charts).

Targets (issue 13): at 50 sites the run under 1.5x the floor and the whole plan under 5x, per resource.

A second floor, "same inputs", registers every resource the program registered (components included, chart
renders not: the program does not register those), each flat under the stack with its own type and the
inputs it was recorded with, plain (no Outputs, parents, providers, options or secrets). It is what the
SDK's own work per resource costs for these inputs, so `run/same` is the program's overhead over that: its
configuration, components, Outputs and chart renders.

The generated stack gives the two workers room for 50 stores (cpus / memory raised), so that the capacity
check passes: this benchmark measures time, the capacity check measures fit.

Run: `make benchmark` (or .venv/bin/python benchmarks/plan_scaling.py [--sites 1 10 50] [--repeats 3]
[--profile 50]). Each figure is the median of the repeats in this process; peak memory is measured with
tracemalloc around one more run. `--profile N` prints the 30 functions with the most cumulative time in
one whole plan of N sites instead (profile before optimising).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import cProfile
import io
import pstats
import statistics
import sys
import tempfile
import time
import tracemalloc
import types
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from offline.engine import run_program
from offline.plan import frozen_heap, plan_settings
from offline.stackfile import ROOT, settings_from_values

SITE_COUNTS = (1, 10, 50)
REPEATS = 3
TARGET_RUN, TARGET_PLAN = 1.5, 5.0
FAILED_CHECKS: set[str] = set()


def prod_with_sites(count: int) -> dict:
    values = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())["config"]
    template = values["magento:sites"][0]
    sites = []
    for i in range(count):
        site = copy.deepcopy(template)
        site["name"] = f"store-{i:03d}"
        site["domains"] = [f"www.store-{i:03d}.example.com"]
        site.pop("stores", None)  # the template's store views name its own domains
        for key in ("tiers", "quota"):
            site.pop(key, None)  # a small store with the default quota (which holds it at its maxima)
        site["size"] = "small"
        sites.append(site)
    values["magento:sites"] = sites
    # 50 stores open ~2,300 database connections: a MySQL member sized for them (the config check requires it)
    values["magento:data"]["mysql"]["resources"] = {"cpuRequest": "4", "memoryRequest": "32Gi", "cpuLimit": "8", "memoryLimit": "32Gi"}
    for host in values.get("magento:hosts", []):
        if "worker" in host.get("roles", []):
            host.update(cpus=256, memory="2Ti")
    return values


def bare_program(count: int):
    import pulumi  # here, not above: `offline` is imported first (offline/__init__.py sets how gRPC forks)

    def program() -> None:
        for i in range(count):
            pulumi.CustomResource("bench:index:Bare", f"bare-{i}", {"value": i})

    return program


MEMORY = True  # --no-memory skips the extra run under tracemalloc (peak memory then reads 0)


def same_inputs_program(recording):
    """Each resource the program registered, flat, with its recorded type and inputs (see the module doc)."""
    registered = [
        r for r in recording.resources
        if not r.rendered_by and r.type != "pulumi:pulumi:Stack" and not r.type.startswith("pulumi:providers:")
    ]

    import pulumi

    def program() -> None:
        for i, record in enumerate(registered):
            kind = pulumi.CustomResource if record.custom else pulumi.ComponentResource
            kind(record.type, f"same-{i}", dict(record.inputs))

    return program


def measure(fn, repeats: int) -> tuple[float, int, int]:
    seconds = []
    resources = 0
    for _ in range(repeats):
        # each figure as a fresh process would see it: the collector walks only what the measured call allocates
        # (measured after the program's runs, the floor paid 20-40% for the collector walking their leftovers:
        # 2,509 bare resources took 2.7-2.9 s in a fresh process, 3.6-4.6 s after a 10-site run)
        with frozen_heap():
            start = time.perf_counter()
            resources = len(fn().resources)
            seconds.append(time.perf_counter() - start)
    if not MEMORY:
        return statistics.median(seconds), 0, resources
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return statistics.median(seconds), peak, resources


def full_plan(settings, out: Path):
    """The whole offline plan, quietly; the result carries the number of resources like a Recording."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
        code, summary = plan_settings(settings, out)
    if not summary:
        raise SystemExit(f"the plan did not run (exit code {code}):\n{err.getvalue()}")
    if code != 0:  # every step still ran: the time is the plan's; say which checks failed
        FAILED_CHECKS.update(line.strip() for line in err.getvalue().splitlines() if line.strip())
    return types.SimpleNamespace(resources=range(summary["resources"]))


def profile(count: int) -> None:
    settings = settings_from_values(prod_with_sites(count), stack="prod")
    profiler = cProfile.Profile()
    with tempfile.TemporaryDirectory() as tmp:
        profiler.enable()
        full_plan(settings, Path(tmp) / "plan")
        profiler.disable()
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sites", type=int, nargs="+", default=list(SITE_COUNTS))
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--profile", type=int, default=None, metavar="SITES")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory run (halves the time)")
    args = parser.parse_args(argv)
    global MEMORY
    MEMORY = not args.no_memory
    if args.profile:
        profile(args.profile)
        return 0
    print(
        f"{'sites':>5} {'resources':>9} {'run s':>7} {'run MiB':>8} {'plan s':>7} {'plan MiB':>9} "
        f"{'floor s':>8} {'floor MiB':>10} {'us/res run':>10} {'us/res floor':>12} {'run/floor':>9} {'plan/floor':>10} "
        f"{'same s':>7} {'run/same':>8}"
    )
    ratios = {}
    run_program(settings_from_values(prod_with_sites(1), stack="prod"))  # imports and caches, outside every figure
    with tempfile.TemporaryDirectory() as tmp:
        for count in args.sites:
            settings = settings_from_values(prod_with_sites(count), stack="prod")
            run_s, run_peak, resources = measure(lambda settings=settings: run_program(settings), args.repeats)
            plan_s, plan_peak, _ = measure(lambda settings=settings: full_plan(settings, Path(tmp) / "plan"), args.repeats)
            floor_settings = settings_from_values({"environment": "prod"}, stack="floor")
            floor_program = bare_program(resources)
            floor_s, floor_peak, _ = measure(lambda fs=floor_settings, fp=floor_program: run_program(fs, program=fp), args.repeats)
            same_program = same_inputs_program(run_program(settings))
            same_s, _, _ = measure(lambda fs=floor_settings, sp=same_program: run_program(fs, program=sp), args.repeats)
            ratios[count] = (run_s / floor_s, plan_s / floor_s, run_s / same_s)
            print(
                f"{count:>5} {resources:>9} {run_s:>7.2f} {run_peak / 2**20:>8.1f} {plan_s:>7.2f} {plan_peak / 2**20:>9.1f} "
                f"{floor_s:>8.2f} {floor_peak / 2**20:>10.1f} {run_s / resources * 1e6:>10.0f} {floor_s / resources * 1e6:>12.0f} "
                f"{run_s / floor_s:>9.2f} {plan_s / floor_s:>10.2f} {same_s:>7.2f} {run_s / same_s:>8.2f}"
            )
    if FAILED_CHECKS:
        print(f"note: the plan exited 1 (its timing is complete); failed checks: {'; '.join(sorted(FAILED_CHECKS))[:600]}")
    if 50 in ratios:
        run_ratio, plan_ratio, same_ratio = ratios[50]
        print(f"at 50 sites: run {run_ratio:.2f}x the floor (target {TARGET_RUN}x), whole plan {plan_ratio:.2f}x (target {TARGET_PLAN}x); "
              f"run {same_ratio:.2f}x the same-inputs floor")
    return 0


if __name__ == "__main__":
    sys.exit(main())
