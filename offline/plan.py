"""The offline plan: `make plan [STACK=prod]`.

Runs the program's own `build()` under the Pulumi SDK's mocks with the stack's configuration (secrets
replaced by placeholders that are never printed) and writes to `build/<stack>/`:

- `manifests/<layer>/<namespace>/<kind>-<name>.yaml`: each Kubernetes object, one file per object;
- `charts/<release>/`: each Helm chart and release manifest as the provider applies it: `chart.yaml`
  (repository, version, namespace, full values, the hooks left out and what replaces them) and one file per
  rendered object (`<kind>-<namespace>-<name>.yaml`, Secret payloads redacted);
- `hosts/<host>/<command>.sh` (and files copied to hosts): every rendered host script;
- `outputs.yaml`: the stack outputs (secret ones redacted);
- `policy.md`, `policy.json`, `policy-config.json`: the CrossGuard pack evaluated offline (docs/policy.md);
- `summary.md` and `summary.json`: resources by layer and type, compute per layer, the capacity model
  (per node class, layer and site, head-room, stores that still fit, storage) and the checks (schema
  validation, references, charts, providers, gitops, admission, capacity) with their results.

It needs no Pulumi CLI, no cluster, no credentials and no network. It exits 1 on a configuration error
(one line per problem, no traceback), on any failed check and on any mandatory policy violation (one line
naming the policy and the resource); `pulumi preview` / `pulumi up` need the CLI.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import re
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from components.config import ConfigError
from offline.background import in_background
from offline.capacity_report import capacity_summary, console_lines
from offline.checks import run_checks
from offline.engine import Recorded, Recording, run_program
from offline.policy_check import check_recording, print_failures, write_report
from offline.render import RENDERED_TYPES
from offline.stackfile import ROOT, StackSettings, load_stack
from offline.summary import summarize, to_markdown
from offline.yaml_out import dump_text

REDACTED = "<secret: redacted>"
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _safe(name: str) -> str:
    return _SAFE.sub("_", name) or "_"


def redact(record: Recorded, value: Any = None, path: str = "") -> Any:
    """The record's inputs with every secret value replaced, and Secret payloads always hidden."""
    if value is None and path == "":
        value = record.inputs
        if record.inputs.get("kind") == "Secret":
            value = {
                k: ({key: REDACTED for key in v} if k in ("data", "stringData") and isinstance(v, dict) else v)
                for k, v in value.items()
            }
    if path and record.is_secret(path):
        return REDACTED
    if isinstance(value, dict):
        return {k: redact(record, v, f"{path}.{k}" if path else k) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(record, v, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


def _sorted(value: Any) -> Any:
    """Mappings with their keys in order, so that chart values read (and diff) like a values file."""
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


# libyaml's emitter when PyYAML has it: the same documents (only long quoted strings fold differently),
# six times faster than the pure-Python one, which was a third of the plan's time at 50 sites; and the node
# tree built without most of PyYAML's pure-Python representer (offline/yaml_out.py: the same bytes).
def _dump(path: Path, document: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dump_text(document))


def _host_of(recording: Recording, record: Recorded) -> str:
    for node in recording.ancestors(record):
        if node.type == "magento:hosts:Host":
            return node.name
    return "_cluster"


def _script_text(record: Recorded, key: str) -> str | None:
    value = record.inputs.get(key)
    if value is None:
        return None
    return f"# {REDACTED}\n" if record.is_secret(key) else str(value)


def write_manifests(recording: Recording, out: Path) -> int:
    """The program's own objects (the charts' are under charts/)."""
    count = 0
    for record in recording.own_objects():
        obj = redact(record)
        meta = obj.get("metadata") or {}
        folder = out / "manifests" / recording.layer_of(record) / _safe(meta.get("namespace") or "_cluster")
        _dump(folder / f"{obj['kind'].lower()}-{_safe(meta.get('name') or record.name)}.yaml", obj)
        count += 1
    return count


def write_charts(recording: Recording, out: Path) -> int:
    """Each chart / manifest: its inputs, its hooks and what replaces them, and every object it renders."""
    from offline.chart_hooks import hook_replacement

    children: dict[str, list[Recorded]] = {}
    for record in recording.rendered_objects():
        children.setdefault(record.rendered_by or "", []).append(record)
    count = 0
    for record in recording.resources:
        if record.type not in RENDERED_TYPES or not record.remote:
            continue
        inputs = redact(record)
        release = inputs.get("name") or record.name
        rendered = recording.renders.get(record.urn)
        folder = out / "charts" / _safe(record.name)
        chart_name = str(inputs.get("chart") or "").rsplit("/", 1)[-1]
        _dump(folder / "chart.yaml", {
            "release": release,
            "layer": recording.layer_of(record),
            "source": rendered.source if rendered else None,
            "repository": (inputs.get("repositoryOpts") or {}).get("repo", ""),
            "chart": inputs.get("chart"),
            "version": inputs.get("version"),
            "file": inputs.get("file"),
            "namespace": inputs.get("namespace") or "default",
            "skipCrds": inputs.get("skipCrds", False),
            "objects": len(children.get(record.urn, [])),
            "hooks (never applied by the provider)": [
                {"hook": str(hook), "what replaces it": hook_replacement(chart_name, hook)} for hook in (rendered.hooks if rendered else [])
            ],
            "renderedOnlyOnceTheProgramsCrdsExist": rendered.capability_gated if rendered else [],
            "values": _sorted(inputs.get("values") or {}),
        })
        for child in children.get(record.urn, []):
            obj = redact(child)
            meta = obj.get("metadata") or {}
            _dump(folder / f"{obj['kind'].lower()}-{_safe(meta.get('namespace') or '_cluster')}-{_safe(meta.get('name', ''))}.yaml", obj)
        count += 1
    return count


def write_host_scripts(recording: Recording, out: Path) -> int:
    count = 0
    for record in recording.resources:
        folder = out / "hosts" / _safe(_host_of(recording, record))
        if record.type == "command:remote:Command":
            for key, suffix in (("create", ".sh"), ("update", ".update.sh"), ("delete", ".delete.sh")):
                text = _script_text(record, key)
                if text is not None:
                    folder.mkdir(parents=True, exist_ok=True)
                    (folder / f"{_safe(record.name)}{suffix}").write_text(text if text.endswith("\n") else text + "\n")
                    count += 1
        elif record.type == "command:remote:CopyToRemote":
            source = record.inputs.get("source") or {}
            remote = str(record.inputs.get("remotePath", record.name))
            if isinstance(source, dict) and "text" in source:
                folder.mkdir(parents=True, exist_ok=True)
                text = REDACTED + "\n" if record.is_secret("source") else source["text"]
                (folder / f"{_safe(record.name)}--{_safe(Path(remote).name)}").write_text(text)
                count += 1
    return count


WRITERS: dict[str, Callable[[Recording, Path], int]] = {
    "manifests": write_manifests,
    "charts": write_charts,
    "host files": write_host_scripts,
}


def plan(stack: str, out: Path | None = None, root: Path = ROOT) -> tuple[int, dict[str, Any]]:
    """Write the plan of one stack; return (exit code, summary)."""
    try:
        settings = load_stack(stack, root)
    except FileNotFoundError as error:
        print(f"plan: {error}", file=sys.stderr)
        return 2, {}
    return plan_settings(settings, out or root / "build" / stack, root)


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """Collect, then freeze everything alive, so that the collector's passes walk only what is allocated inside.

    The plan runs its checks inside: the recording is read, never changed, by every step after the run, and
    without this the collector's full passes walk all of it (hundreds of thousands of objects per 10 sites)
    again and again while the checks allocate; freezing it saved 10 s of an 85 s 50-site plan
    (benchmarks/RESULTS.md). The benchmark measures each figure inside, as a fresh process would see it."""
    inside_another = gc.get_freeze_count() > 0  # then the outer one unfreezes, at its end
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        if not inside_another:
            gc.unfreeze()


def plan_settings(settings: StackSettings, out: Path, root: Path = ROOT) -> tuple[int, dict[str, Any]]:
    """Write the plan of the given stack settings into `out`; return (exit code, summary)."""
    try:
        recording = run_program(settings)
    except ConfigError as error:
        for problem in error.problems:
            print(f"configuration error: {problem}", file=sys.stderr)
        print(f"plan: Pulumi.{settings.stack}.yaml is invalid; nothing was planned", file=sys.stderr)
        return 1, {}
    with frozen_heap():
        return _plan_recording(recording, out, root)


def _plan_recording(recording: Recording, out: Path, root: Path) -> tuple[int, dict[str, Any]]:
    stack = recording.settings.stack
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    policy_report = in_background(check_recording, recording)  # beside the writers and checks, on a second core
    written = {name: writer(recording, out) for name, writer in WRITERS.items()}
    summary = summarize(recording)
    checks = run_checks(recording)
    summary["written"] = written
    summary["checks"] = checks
    summary["capacity"] = capacity_summary(recording)
    policy = policy_report()
    write_report(policy, out)
    summary["policy"] = {
        "policies": len(policy.policies), "passed": policy.passed,
        "mandatory": len(policy.mandatory), "violations": len(policy.violations),
    }
    _dump(out / "outputs.yaml", {
        key: REDACTED if output["secret"] else output["value"] for key, output in sorted(recording.stack_outputs.items())
    })
    (out / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=False) + "\n")
    (out / "summary.md").write_text(to_markdown(summary, checks))
    failed = {name: result for name, result in checks.items() if result["problems"]}
    print(
        f"plan {stack}: {summary['resources']} resources; "
        + ", ".join(f"{count} {name}" for name, count in written.items())
        + f" -> {out.relative_to(root) if out.is_relative_to(root) else out}"
    )
    for name, result in checks.items():
        print(f"  {name}: {result['checked']} checked, {len(result['problems'])} problem(s)")
        for problem in result["problems"]:
            print(f"    {problem}", file=sys.stderr)
    for line in console_lines(summary["capacity"]):
        print(line)
    print(f"  policy: {len(policy.policies)} policies, {len(policy.mandatory)} mandatory violation(s) (policy.md)")
    print_failures(policy, sys.stderr)
    return (1 if failed or not policy.passed else 0), summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make plan", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", default="dev", help="stack name: reads Pulumi.<stack>.yaml (default dev)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default build/<stack>)")
    parser.add_argument("--root", type=Path, default=ROOT, help="project folder holding Pulumi.yaml and the stack files")
    args = parser.parse_args(argv)
    code, _ = plan(args.stack, args.out, args.root.resolve())
    return code


if __name__ == "__main__":
    sys.exit(main())
