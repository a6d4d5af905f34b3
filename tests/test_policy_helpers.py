"""The pack's shared helpers give what their plain definitions give, on the proxies the servicer hands policies.

`get` looks a step up once, `walk` runs over a stack instead of nested generators, `SecretIndex` searches each
distinct text once and `autoscaler_minimums` indexes the autoscalers once per check (each for the plan's time,
benchmarks/RESULTS.md); here each is compared with the straightforward definition on random nested properties,
unknown values included, wrapped exactly as `pulumi_policy` wraps them."""

from __future__ import annotations

import random
import string
from collections.abc import Iterator
from typing import Any

from pulumi_policy import PolicyResource
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy

from policy.magento_policies.common import UNKNOWN, get, is_list, is_mapping, walk
from policy.magento_policies.kubernetes import autoscaler_minimums, minimum_replicas
from policy.magento_policies.secrets import SecretIndex

UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # the engine's unknown string (pulumi_policy.deserialize)


def reference_walk(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """walk's definition: nested generators, depth first, unknowns skipped."""
    if is_mapping(value):
        for key in value:
            try:
                child = value[key]
            except UnknownValueError:
                continue
            yield from reference_walk(child, f"{path}.{key}" if path else str(key))
    elif is_list(value):
        for index in range(len(value)):
            try:
                child = value[index]
            except UnknownValueError:
                continue
            yield from reference_walk(child, f"{path}[{index}]")
    else:
        yield path, value


def reference_get(obj: Any, *path: str | int, default: Any = None) -> Any:
    """get's definition: a membership test, then the lookup."""
    current = obj
    for key in path:
        try:
            if isinstance(key, int):
                if not is_list(current) or key >= len(current):
                    return default
            elif not is_mapping(current) or key not in current:
                return default
            current = current[key]
        except UnknownValueError:
            return UNKNOWN
    return default if current is None else current


def random_props(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth < 4 and roll < 0.35:
        return {rng.choice("abcde") + str(i): random_props(rng, depth + 1) for i in range(rng.randint(0, 4))}
    if depth < 4 and roll < 0.55:
        return [random_props(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return rng.choice([UNKNOWN_STRING, None, 0, 3, True, "x", "", "some text"])


def paths_of(value: Any, prefix: tuple = ()) -> Iterator[tuple]:
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from paths_of(child, (*prefix, key))
        yield (*prefix, "missing")
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from paths_of(child, (*prefix, index))
        yield (*prefix, len(value))


def same(found: Any, expected: Any) -> bool:
    """The same object for containers (comparing proxies would read their unknowns), equal for scalars."""
    return found is expected or (not (is_mapping(found) or is_list(found)) and found == expected)


def test_walk_and_get_match_their_definitions_on_proxies_with_unknowns():
    rng = random.Random(13)
    compared = 0
    for _ in range(300):
        props = {"spec": random_props(rng), "metadata": random_props(rng)}
        proxy = unknown_checking_proxy(props)
        assert list(walk(proxy)) == list(reference_walk(proxy))
        assert list(walk(props, "root")) == list(reference_walk(props, "root"))
        for path in paths_of(props):
            assert same(get(proxy, *path, default="d"), reference_get(proxy, *path, default="d"))
            assert same(get(props, *path), reference_get(props, *path))
            compared += 1
    assert compared > 3000
    assert get(unknown_checking_proxy({"a": {"b": UNKNOWN_STRING}}), "a", "b") == UNKNOWN
    assert list(walk(unknown_checking_proxy({"a": [1, UNKNOWN_STRING, {"b": 2}]}))) == [("a[0]", 1), ("a[2].b", 2)]


def test_the_secret_index_finds_what_a_search_per_secret_finds_in_order():
    rng = random.Random(7)
    alphabet = string.ascii_letters + string.digits
    secrets = ["".join(rng.choices(alphabet, k=rng.randint(8, 40))) for _ in range(200)]
    secrets += [secrets[0][-8:] + "tail", secrets[1]]  # a shared tail, and a duplicate
    index = SecretIndex(secrets)
    texts = []
    for _ in range(2000):
        parts = ["".join(rng.choices(alphabet + " =:\n", k=rng.randint(0, 30)))]
        for secret in rng.sample(secrets, rng.choice([0, 0, 1, 3])):
            parts += [secret, "".join(rng.choices(alphabet, k=rng.randint(0, 5)))]
        texts.append("".join(parts))
    texts += texts[:100]  # searched again: from the index's memory
    order = list(dict.fromkeys(secrets))
    found = 0
    for text in texts:
        expected = tuple(s for s in order if s in text)
        assert index.contained_in(text) == expected
        found += len(expected)
    assert found > 1000


def scaler(kind: str, namespace: str, target: str, minimum: int, target_kind: str = "Deployment") -> PolicyResource:
    spec_key = "minReplicas" if kind == "HorizontalPodAutoscaler" else "minReplicaCount"
    props = {"metadata": {"namespace": namespace, "name": f"{target}-{kind}"},
             "spec": {"scaleTargetRef": {"kind": target_kind, "name": target}, spec_key: minimum}}
    token = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler" if kind == "HorizontalPodAutoscaler" else "kubernetes:keda.sh/v1alpha1:ScaledObject"
    return PolicyResource(token, unknown_checking_proxy(props), f"urn:{target}", target, None, None, None, [], {})  # type: ignore[arg-type]


def workload(kind: str, namespace: str, name: str, replicas: int | None) -> PolicyResource:
    props: dict[str, Any] = {"kind": kind, "metadata": {"namespace": namespace, "name": name}, "spec": {}}
    if replicas is not None:
        props["spec"]["replicas"] = replicas
    return PolicyResource(f"kubernetes:apps/v1:{kind}", unknown_checking_proxy(props), f"urn:{name}", name, None, None, None, [], {})  # type: ignore[arg-type]


def test_autoscaler_minimums_take_the_first_autoscaler_of_the_workload_and_fall_back_to_replicas():
    scalers = [
        scaler("HorizontalPodAutoscaler", "site-a", "web", 3),
        scaler("ScaledObject", "site-a", "web", 5),  # a second one for the same target: the first counts
        scaler("ScaledObject", "site-a", "db", 2, target_kind="StatefulSet"),
        scaler("HorizontalPodAutoscaler", "site-b", "web", 4),
    ]
    minimums = autoscaler_minimums(scalers)
    assert minimum_replicas(workload("Deployment", "site-a", "web", 1), minimums) == 3
    assert minimum_replicas(workload("Deployment", "site-b", "web", 1), minimums) == 4
    assert minimum_replicas(workload("StatefulSet", "site-a", "db", 1), minimums) == 2
    assert minimum_replicas(workload("Deployment", "site-a", "db", 6), minimums) == 6  # the StatefulSet's, not this
    assert minimum_replicas(workload("Deployment", "site-c", "web", None), minimums) == 1
