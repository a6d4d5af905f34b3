"""The CrossGuard pack evaluated offline: every policy of `policy/` against a recorded run of the program.

There is no CLI here, so this does what the engine does with a policy pack, through the pack's own SDK
servicer (`pulumi_policy.policy._PolicyAnalyzerServicer`, private: pulumi-policy is pinned):

1. `Configure` with every policy's enforcement level resolved as the CLI resolves it (configured level,
   else the policy's, else the pack's) and its configuration;
2. `Analyze` once per registered resource with its inputs (secrets re-wrapped as the engine sends them);
3. `AnalyzeStack` once with every resource, its state, parent and dependencies.

`check_recording()` returns a `PolicyReport`; `mandatory` violations fail `make plan` and CI. The
configuration comes from the stack file (`platform.allowedRegistries`, `environment`), and
`write_report()` writes it as `policy-config.json` for `pulumi preview --policy-pack-config`.
"""

from __future__ import annotations

import contextlib
import json
import types
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pulumi_policy.policy
import yaml
from google.protobuf import json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy import EnforcementLevel, Policy
from pulumi_policy.policy import _PolicyAnalyzerServicer

from components.config.model import Platform
from offline.engine import Recorded, Recording
from offline.stackfile import ROOT
from policy.magento_policies import PACK_LEVEL, PACK_NAME, POLICIES

SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
PACK_DIR = ROOT / "policy"

_LEVELS = {
    EnforcementLevel.ADVISORY: analyzer_pb2.ADVISORY,
    EnforcementLevel.MANDATORY: analyzer_pb2.MANDATORY,
    EnforcementLevel.REMEDIATE: analyzer_pb2.REMEDIATE,
    EnforcementLevel.DISABLED: analyzer_pb2.DISABLED,
}
_LEVEL_NAMES = {v: k.value for k, v in _LEVELS.items()}


@dataclass(frozen=True)
class Violation:
    policy: str
    level: str  # mandatory | advisory
    urn: str
    resource_type: str
    resource_name: str
    message: str

    def __str__(self) -> str:
        return f"[{self.level}] {self.policy}: {self.resource_type} {self.resource_name}: {self.message}"


@dataclass
class PolicyReport:
    stack: str
    pack: str
    policies: dict[str, str]  # name -> resolved enforcement level
    resources: int
    violations: list[Violation] = field(default_factory=list)
    not_applicable: list[tuple[str, str]] = field(default_factory=list)  # (policy, reason)
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def mandatory(self) -> list[Violation]:
        return [v for v in self.violations if v.level == "mandatory"]

    @property
    def passed(self) -> bool:
        return not self.mandatory

    def to_dict(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "pack": self.pack,
            "passed": self.passed,
            "resources": self.resources,
            "policies": self.policies,
            "violations": [asdict(v) for v in self.violations],
            "mandatory": len(self.mandatory),
            "config": self.config,
        }

    def to_markdown(self) -> str:
        lines = [
            f"# Policy check: stack `{self.stack}`",
            "",
            f"Pack `{self.pack}`: {len(self.policies)} policies over {self.resources} resources: "
            f"**{'passed' if self.passed else 'FAILED'}** ({len(self.mandatory)} mandatory, "
            f"{len(self.violations) - len(self.mandatory)} advisory violation(s)).",
            "",
            "| policy | level | violations |",
            "| --- | --- | --- |",
        ]
        for name, level in self.policies.items():
            count = sum(1 for v in self.violations if v.policy == name)
            lines.append(f"| `{name}` | {level} | {count} |")
        if self.violations:
            lines += ["", "## Violations", "", "| policy | level | resource | message |", "| --- | --- | --- | --- |"]
            for v in self.violations:
                message = v.message.replace("|", "\\|").replace("\n", "<br>")
                lines.append(f"| `{v.policy}` | {v.level} | `{v.resource_type}` {v.resource_name} | {message} |")
        return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------ configuration


def stack_policy_config(recording: Recording) -> dict[str, dict[str, Any]]:
    """The pack configuration a stack implies: its allowed registries, and host keys required in prod."""
    settings = recording.settings
    project = settings.project
    platform = json.loads(settings.config.get(f"{project}:platform", "{}") or "{}")
    registries = platform.get("allowedRegistries") or Platform().allowed_registries
    environment = settings.config.get(f"{project}:environment", "prod")
    return {
        "workload-image-registry": {"allowedRegistries": list(registries)},
        "remote-command-ssh": {"requireHostKey": environment == "prod"},
    }


def _configured_level(entry: Any) -> str | None:
    """The level of a config entry: `"advisory"` or `{"enforcementLevel": "advisory", ...}`."""
    return entry.get("enforcementLevel") if isinstance(entry, dict) else entry


def resolve_levels(policies: list[Policy], config: dict[str, Any]) -> dict[str, EnforcementLevel]:
    """Each policy's level as the CLI resolves it: its configured level, else `all`, else the policy's, else the pack's."""
    every = _configured_level(config.get("all"))
    levels = {}
    for policy in policies:
        configured = _configured_level(config.get(policy.name)) or every
        levels[policy.name] = EnforcementLevel(configured) if configured else policy.enforcement_level or PACK_LEVEL
    return levels


def pack_version() -> str:
    document = yaml.safe_load((PACK_DIR / "PulumiPolicy.yaml").read_text()) or {}
    return str(document.get("version", "0.0.1"))


# ------------------------------------------------------------------------------------------ wire format


def _rewrap(value: Any, path: str, secret_paths: frozenset[str]) -> Any:
    """Inputs as the engine sends them: values at secret paths wrapped in the secret signature."""
    if isinstance(value, dict):
        inner: Any = {k: _rewrap(v, f"{path}.{k}" if path else k, secret_paths) for k, v in value.items()}
    elif isinstance(value, list):
        inner = [_rewrap(v, f"{path}[{i}]", secret_paths) for i, v in enumerate(value)]
    else:
        inner = value
    return {SECRET_SIG_KEY: SECRET_SIG, "value": inner} if (path or ".") in secret_paths else inner


def _struct(value: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(json.loads(json.dumps(value, default=str)))
    return message


# Components the Kubernetes provider constructs itself (helm.v4.Chart, yaml.v2.ConfigFile): the provider
# registers them with no inputs (provider/pkg/provider/helm/v4/chart.go: RegisterComponentResource(typ,
# name, comp, options)), so an analyzer sees an empty component and, separately, each object it renders.
PROVIDER_CONSTRUCTED = frozenset({"kubernetes:helm.sh/v4:Chart", "kubernetes:yaml/v2:ConfigFile"})


def _analyzed_inputs(record: Recorded, *, with_outputs: bool = False) -> dict[str, Any]:
    """The properties the engine hands an analyzer for this record."""
    if record.type in PROVIDER_CONSTRUCTED:
        return {}
    props = {**record.outputs, **record.inputs} if with_outputs else record.inputs
    return _rewrap(props, "", record.secret_paths)


def _provider_urn(record: Recorded) -> str | None:
    return record.provider.rsplit("::", 1)[0] if record.provider else None


def _provider(recording: Recording, record: Recorded) -> analyzer_pb2.AnalyzerProviderResource | None:
    urn = _provider_urn(record)
    provider = recording.by_urn.get(urn) if urn else None
    if provider is None:
        return None
    return analyzer_pb2.AnalyzerProviderResource(
        type=provider.type,
        properties=_struct(_rewrap(provider.inputs, "", provider.secret_paths)),
        urn=provider.urn,
        name=provider.name,
    )


@contextlib.contextmanager
def _shared_preparation() -> Iterator[dict[int, tuple[Any, Any]]]:
    """The servicer prepares a resource's properties (and its provider's) once per policy: 16 times per resource
    in `Analyze`, and once per stack policy and resource in `AnalyzeStack`. Each preparation is three pure steps,
    `json_format.MessageToDict`, `deserialize_properties` and `unknown_checking_proxy`, which were four fifths of
    the pack's time. Here each step runs once per distinct input for the duration of the check: a message is
    converted once per content (its type and deterministic wire bytes; first looked up by its identity, which
    upb keeps for a field while it lives), the later steps once per (shared, held) result they are given. So a
    resource's `Analyze` and `AnalyzeStack` properties, when the same, and every resource's provider share one
    preparation. The servicer's loop and every policy run unchanged and see the same values.

    What changes is that policies share one proxy instead of each getting its own, which is only the same when
    no policy writes to the properties it is given: `tests/test_policy_pack_readonly.py` holds the pack to that."""
    module = pulumi_policy.policy
    originals = (module.json_format, module.deserialize_properties, module.unknown_checking_proxy)
    message_to_dict, deserialize, proxy = json_format.MessageToDict, originals[1], originals[2]
    converted: dict[tuple[str, bytes], Any] = {}
    # id(input) -> (input, result): the input is held so that its id cannot be reused within the check
    deserialized: dict[int, tuple[Any, Any]] = {}
    proxied: dict[int, tuple[Any, Any]] = {}
    seen: dict[int, tuple[Any, Any]] = {}  # id(message) -> (message, its dict)

    def shared_message_to_dict(message: Any, *args: Any, **kwargs: Any) -> Any:
        if args or kwargs or not isinstance(message, struct_pb2.Struct):
            return message_to_dict(message, *args, **kwargs)
        if id(message) in seen:
            return seen[id(message)][1]
        key = (message.DESCRIPTOR.full_name, message.SerializeToString(deterministic=True))
        if key not in converted:
            converted[key] = message_to_dict(message)
        seen[id(message)] = (message, converted[key])
        return converted[key]

    def once(memo: dict[int, tuple[Any, Any]], step: Any) -> Any:
        def shared(value: Any, *args: Any, **kwargs: Any) -> Any:
            if args or kwargs:  # another form of the call (the remediation path's proxy_secrets=True)
                return step(value, *args, **kwargs)
            if id(value) not in memo:
                memo[id(value)] = (value, step(value))
            return memo[id(value)][1]

        return shared

    module.json_format = types.SimpleNamespace(**{**vars(json_format), "MessageToDict": shared_message_to_dict})  # type: ignore[assignment]
    module.deserialize_properties = once(deserialized, deserialize)  # type: ignore[assignment]
    module.unknown_checking_proxy = once(proxied, proxy)  # type: ignore[assignment]
    try:
        yield proxied  # each shared proxy with the value it wraps (for the check that no policy writes to it)
    finally:
        module.json_format, module.deserialize_properties, module.unknown_checking_proxy = originals


def _options(record: Recorded) -> analyzer_pb2.AnalyzerResourceOptions:
    return analyzer_pb2.AnalyzerResourceOptions(parent=record.parent or "")


# ------------------------------------------------------------------------------------------ the check


def check_recording(
    recording: Recording, *, config: dict[str, Any] | None = None, policies: list[Policy] | None = None
) -> PolicyReport:
    """Evaluate every policy of the pack against the recording, as `pulumi preview --policy-pack policy` would.

    `config` is a `--policy-pack-config` document; each policy's entry replaces what the stack implies.
    """
    policies = policies if policies is not None else POLICIES
    config = {**stack_policy_config(recording), **(config or {})}
    levels = resolve_levels(policies, config)
    servicer = _PolicyAnalyzerServicer(name=PACK_NAME, version=pack_version(), policies=policies, enforcement_level=PACK_LEVEL)
    policy_config = {}
    for policy in policies:
        entry = config.get(policy.name)
        properties = {k: v for k, v in entry.items() if k != "enforcementLevel"} if isinstance(entry, dict) else {}
        policy_config[policy.name] = analyzer_pb2.PolicyConfig(
            enforcementLevel=_LEVELS[levels[policy.name]], properties=_struct(properties)
        )
    servicer.Configure(analyzer_pb2.ConfigureAnalyzerRequest(policyConfig=policy_config), None)

    report = PolicyReport(
        stack=recording.settings.stack,
        pack=PACK_NAME,
        policies={name: level.value for name, level in levels.items()},
        resources=len(recording.resources),
        config=config,
    )

    def collect(response: analyzer_pb2.AnalyzeResponse, default: Recorded | None) -> None:
        for diagnostic in response.diagnostics:
            record = recording.by_urn.get(diagnostic.urn) if diagnostic.urn else default
            report.violations.append(
                Violation(
                    policy=diagnostic.policyName,
                    level=_LEVEL_NAMES.get(diagnostic.enforcementLevel, "advisory"),
                    urn=record.urn if record else diagnostic.urn,
                    resource_type=record.type if record else "stack",
                    resource_name=record.name if record else recording.settings.stack,
                    message=diagnostic.message,
                )
            )
        report.not_applicable.extend((n.policy_name, n.reason) for n in response.not_applicable)

    providers: dict[str, analyzer_pb2.AnalyzerProviderResource | None] = {}  # one message per provider

    def provider_of(record: Recorded) -> analyzer_pb2.AnalyzerProviderResource | None:
        if record.provider not in providers:
            providers[record.provider] = _provider(recording, record)
        return providers[record.provider]

    inputs: list[struct_pb2.Struct] = []  # each resource's inputs' message, in order, kept for AnalyzeStack
    with _shared_preparation():
        for record in recording.resources:
            inputs.append(_struct(_analyzed_inputs(record)))
            request = analyzer_pb2.AnalyzeRequest(
                type=record.type,
                properties=inputs[-1],
                urn=record.urn,
                name=record.name,
                options=_options(record),
                provider=provider_of(record),
            )
            collect(servicer.Analyze(request, None), record)

        stack_resources = [
            analyzer_pb2.AnalyzerResource(
                type=record.type,
                # inputs and state: the inputs' own message when the state adds no property (most resources)
                properties=message if record.outputs.keys() <= record.inputs.keys()
                else _struct(_analyzed_inputs(record, with_outputs=True)),
                urn=record.urn,
                name=record.name,
                options=_options(record),
                provider=provider_of(record),
                parent=record.parent or "",
                dependencies=[d for d in record.dependencies if d in recording.by_urn],
            )
            for record, message in zip(recording.resources, inputs, strict=True)
        ]
        collect(servicer.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=stack_resources), None), None)
    return report


def write_report(report: PolicyReport, out: Path) -> None:
    """`policy.md`, `policy.json` and `policy-config.json` (for `pulumi preview --policy-pack-config`) into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "policy.md").write_text(report.to_markdown())
    (out / "policy.json").write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    (out / "policy-config.json").write_text(json.dumps(report.config, indent=2) + "\n")


def print_failures(report: PolicyReport, stream: Any) -> None:
    """One line per mandatory violation: the policy's name and the resource."""
    for violation in report.mandatory:
        summary = violation.message.splitlines()[-1]
        print(
            f"policy violation: {violation.policy}: {violation.resource_type} {violation.resource_name}: {summary}", file=stream
        )


def main(argv: list[str] | None = None) -> int:
    """`python -m offline.policy_check --stack prod`: record the stack, check the pack, write the report."""
    import argparse
    import sys

    from components.config import ConfigError
    from offline.engine import run_program
    from offline.stackfile import load_stack

    parser = argparse.ArgumentParser(prog="python -m offline.policy_check", description="Evaluate the CrossGuard pack offline.")
    parser.add_argument("--stack", default="dev", help="stack name: reads Pulumi.<stack>.yaml (default dev)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default build/<stack>)")
    args = parser.parse_args(argv)
    try:
        recording = run_program(load_stack(args.stack))
    except ConfigError as error:
        for problem in error.problems:
            print(f"configuration error: {problem}", file=sys.stderr)
        return 1
    report = check_recording(recording)
    out = args.out or ROOT / "build" / args.stack
    write_report(report, out)
    print(
        f"policy {args.stack}: {len(report.policies)} policies, {report.resources} resources, "
        f"{len(report.mandatory)} mandatory / {len(report.violations)} total violation(s) -> {out / 'policy.md'}"
    )
    print_failures(report, sys.stderr)
    return 0 if report.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
