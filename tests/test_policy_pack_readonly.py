"""The offline policy check prepares each distinct set of properties once for the whole check and shares it
between policies and requests (`offline.policy_check._shared_preparation`). That gives every policy what the
servicer alone would give it only while no policy writes to the properties it is given; these tests hold the pack to that, show that a writing
policy is caught, and that sharing changes no report."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pulumi_policy import ResourceValidationPolicy, StackValidationPolicy
from pulumi_policy.proxy import unknown_checking_proxy

from offline import policy_check
from offline.engine import Recording
from offline.policy_check import check_recording
from policy.magento_policies import POLICIES


def _plain(value: Any) -> Any:
    """A proxy's content as plain dicts and lists (through `__target`, which never raises on an unknown)."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value["__target"].items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_plain(v) for v in value["__target"]]
    return value


def written_to(recording: Recording, policies: list) -> int:
    """How many shared property sets differ, after the requests, from a fresh proxy of what they wrap."""
    changed = 0
    shared_preparation = policy_check._shared_preparation

    @contextlib.contextmanager
    def audited() -> Iterator[dict[int, tuple[Any, Any]]]:
        nonlocal changed
        with shared_preparation() as proxied:
            yield proxied
            changed += sum(_plain(proxy) != _plain(unknown_checking_proxy(value)) for value, proxy in proxied.values())

    policy_check._shared_preparation = audited
    try:
        check_recording(recording, policies=policies)
    finally:
        policy_check._shared_preparation = shared_preparation
    return changed


def _writes_kind(args, report_violation) -> None:
    if "kind" in args.props:
        args.props["kind"] = "Rewritten"


def _stack_writes_kind(args, report_violation) -> None:
    for resource in args.resources:
        if "kind" in resource.props:
            resource.props["kind"] = "Rewritten"


def _reads_kind(args, report_violation) -> None:
    if args.props.get("kind") == "Rewritten":
        report_violation("saw another policy's write")


def test_no_policy_of_the_pack_writes_to_the_properties_it_is_given(prod):
    assert written_to(prod, POLICIES) == 0


def test_a_policy_that_writes_to_its_properties_is_caught(dev):
    writer = ResourceValidationPolicy(name="writer", description="writes kind", validate=_writes_kind)
    stack_writer = StackValidationPolicy(name="stack-writer", description="writes kind", validate=_stack_writes_kind)
    objects = sum(1 for r in dev.resources if "kind" in r.inputs and r.type not in policy_check.PROVIDER_CONSTRUCTED)
    assert written_to(dev, [writer]) == objects
    assert written_to(dev, [stack_writer]) >= objects
    reader = ResourceValidationPolicy(name="reader", description="reads kind", validate=_reads_kind)
    assert written_to(dev, [reader]) == 0


def test_sharing_changes_no_report(dev):
    """The whole pack, and a pack where one policy writes before another reads, with and without sharing: the
    pack's report is the same; the writing pack's is not (which is why the pack must not write)."""
    writer = ResourceValidationPolicy(name="writer", description="writes kind", validate=_writes_kind)
    reader = ResourceValidationPolicy(name="reader", description="reads kind", validate=_reads_kind)
    shared_preparation = policy_check._shared_preparation

    def reports(policies: list) -> tuple[Any, Any]:
        shared = check_recording(dev, policies=policies)
        policy_check._shared_preparation = contextlib.nullcontext  # type: ignore[assignment]
        try:
            alone = check_recording(dev, policies=policies)
        finally:
            policy_check._shared_preparation = shared_preparation
        return (shared.to_dict(), shared.not_applicable), (alone.to_dict(), alone.not_applicable)

    shared, alone = reports(POLICIES)
    assert shared == alone
    shared, alone = reports([writer, reader])
    assert shared != alone and alone[0]["violations"] == []
