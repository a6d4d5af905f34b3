"""The program under the Pulumi SDK's mock engine, with every registration recorded.

`run_program(settings)` resets the runtime, installs a recording monitor, sets the stack's config and
runs the very `program.main` that `pulumi up` runs. It returns a `Recording`: each resource's type,
name, URN, inputs (wire names, secrets unwrapped and their paths noted), parent, provider, dependencies
and mocked outputs, plus the stack outputs.

Charts and release manifests are then rendered as the Kubernetes provider renders them
(`offline/render.py`): each object they would apply becomes a record of its own, a child of its Chart
or ConfigFile, so that every check sees the chart's objects exactly like the program's own.

`preview=True` runs the program as `pulumi preview` does on a new stack: outputs a provider computes
(a command's stdout, a generated password, a bucket's ARN) are unknown, and a chart whose inputs are
unknown renders nothing, as the provider does.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pulumi
import yaml
from pulumi.output import Unknown
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.proto import resource_pb2

from offline.render import RENDERED_TYPES, UNKNOWN, Rendered, child_type, render_all
from offline.stackfile import StackSettings

_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
_SIG_KEY = "4dabf18193072939515e22adb298388d"


def _plain(value: Any, path: str, secret_paths: set[str]) -> Any:
    """Unwrap secret markers (noting their paths), mark unknowns, and turn assets into plain dicts."""
    if isinstance(value, Unknown):
        return UNKNOWN
    if isinstance(value, dict):
        if value.get(_SIG_KEY) == _SECRET_SIG:
            secret_paths.add(path or ".")
            return _plain(value.get("value"), path, secret_paths)
        return {k: _plain(v, f"{path}.{k}" if path else k, secret_paths) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, f"{path}[{i}]", secret_paths) for i, v in enumerate(value)]
    if isinstance(value, float) and value.is_integer():
        return int(value)  # the wire carries every number as a double; show 6443, not 6443.0
    if isinstance(value, pulumi.StringAsset):
        return {"asset": "string", "text": value.text}
    if isinstance(value, pulumi.FileAsset):
        return {"asset": "file", "path": value.path}
    if isinstance(value, pulumi.Resource):
        return {"resource": "reference"}
    return value


@dataclass
class Recorded:
    """One registered resource, as the engine saw it."""

    type: str
    name: str
    urn: str
    custom: bool
    inputs: dict[str, Any]
    secret_paths: frozenset[str]
    parent: str | None
    provider: str | None
    dependencies: tuple[str, ...]
    outputs: dict[str, Any] = field(default_factory=dict)
    protect: bool = False
    retain_on_delete: bool = False
    remote: bool = False  # a component a provider constructs (helm.v4.Chart, yaml.v2.ConfigFile)
    rendered_by: str | None = None  # the URN of the Chart / ConfigFile whose render this object is

    @property
    def is_kubernetes_object(self) -> bool:
        return self.custom and self.type.startswith("kubernetes:") and "apiVersion" in self.inputs and "kind" in self.inputs

    def is_secret(self, path: str) -> bool:
        return any(path == p or path.startswith(p + ".") or path.startswith(p + "[") for p in self.secret_paths)


class RecordingMocks(pulumi.runtime.Mocks):
    """Outputs shaped like the real providers' where downstream code reads them; at preview, only the inputs
    (what a provider computes is unknown until it runs)."""

    # Outputs of stacks a program reads through a StackReference, by stack name (a site stack's platform
    # stack): {"outputs": {...}, "secretOutputNames": [...]}. Tests and the offline plan fill it.
    stack_references: dict[str, dict[str, Any]] = {}

    def __init__(self, preview: bool = False):
        self.preview = preview

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        state = dict(args.inputs)
        digest = hashlib.sha256(f"{args.typ}::{args.name}".encode()).hexdigest()[:12]
        if args.typ == "pulumi:pulumi:StackReference":
            stack = str(args.inputs.get("name", args.name))
            if stack not in self.stack_references:
                raise KeyError(f"no outputs recorded for stack {stack} (RecordingMocks.stack_references)")
            return stack, {**state, **self.stack_references[stack]}
        if self.preview:
            return None, state
        if args.typ in ("kubernetes:helm.sh/v4:Chart", "kubernetes:yaml/v2:ConfigGroup", "kubernetes:yaml/v2:ConfigFile"):
            state["resources"] = []
        elif args.typ == "command:remote:Command":
            state.setdefault("stdout", f"offline-stdout-{args.name}")
            state.setdefault("stderr", "")
        elif args.typ == "random:index/randomPassword:RandomPassword":
            length = int(args.inputs.get("length", 32))
            state["result"] = ("offline" + digest * 8)[:length]
            # The provider's bcrypt hash of the result (a fixed-shape stand-in: no real hash of a mock value).
            state["bcryptHash"] = "$2a$10$" + (digest * 5)[:53]
        elif args.typ == "random:index/randomBytes:RandomBytes":
            # Deterministic stand-in bytes (never a real key): the plan shows where they go, redacted.
            raw = hashlib.sha256(f"offline-bytes::{args.name}".encode()).digest() * 4
            length = int(args.inputs.get("length", 32))
            state["base64"] = base64.b64encode(raw[:length]).decode()
            state["hex"] = raw[:length].hex()
        elif args.typ == "ovh:CloudProject/user:User":
            # What OVH returns for a new Public Cloud user: a numeric id, its OpenStack name and (secret) password.
            state.update(username=f"user-{digest}", password="offline" + digest * 2, status="ok",
                         roles=[{"name": n} for n in args.inputs.get("roleNames", [])])
            return str(int(digest, 16) % 10**6), state
        elif args.typ == "ovh:CloudProject/s3Credential:S3Credential":
            # An S3 key pair: a 32-hex access key id (its resource id) and a secret key, unique per resource.
            access_key = hashlib.sha256(f"access::{args.name}".encode()).hexdigest()[:32]
            state.update(accessKeyId=access_key,
                         secretAccessKey=hashlib.sha256(f"secret::{args.name}".encode()).hexdigest()[:32],
                         internalUserId=f"internal-{digest}")
            return access_key, state
        elif args.typ == "aws:s3/bucket:Bucket":
            bucket = args.inputs.get("bucket", args.name)
            state.update(bucket=bucket, arn=f"arn:aws:s3:::{bucket}")
            return bucket, state
        return f"{args.name}-{digest}", state

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        if args.token == "kubernetes:yaml:decode":
            return {"result": [doc for doc in yaml.safe_load_all(args.args["text"]) if doc]}, None
        return {}, None


_WAITED = object()


def _run_to_end(coroutine: Any) -> Any:
    """The coroutine's result if it finishes without waiting on anything, else `_WAITED` (it is closed unfinished;
    the caller runs a fresh one on an event loop)."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    return _WAITED


class RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: pulumi.runtime.Mocks):
        super().__init__(mocks)
        self.mocks = mocks
        self.records: dict[str, Recorded] = {}
        # URN -> the program's transform functions registered on it (the engine applies them to its children).
        self.transforms: dict[str, list[Callable[[pulumi.ResourceTransformArgs], Any]]] = {}
        # URNs registered more than once. The engine refuses the second registration and fails the update
        # (pulumi sdk/go/common/diag/errors.go GetDuplicateResourceURNError, code 2001); the SDK's mock monitor
        # keeps the last one silently. Recorded, not raised: the plan's references check reports them, and tests
        # that register a component twice in one program on purpose still run.
        self.duplicate_urns: list[str] = []
        self._lock = threading.Lock()

    def transform_functions(self, urn: str) -> list[Callable[[pulumi.ResourceTransformArgs], Any]]:
        return self.transforms.get(urn, [])

    @staticmethod
    def _transform_function(token: str) -> Callable[[pulumi.ResourceTransformArgs], Any]:
        """The function behind a transform callback token. Concurrent first registrations can each start a
        callback servicer of their own, so every live servicer is searched."""
        from pulumi.runtime._callbacks import _CallbackServicer

        for servicer in _CallbackServicer._servicers:
            for function, registered in servicer._transforms.items():
                if registered == token:
                    return function
        raise LookupError(f"transform callback {token} is registered with no live callback servicer")

    def _mock_register(self, request) -> tuple[Any, dict[str, Any] | None]:
        """`pulumi.runtime.mocks.MockMonitor.RegisterResource` (pulumi 3.272.0, requirements.txt) step for step,
        except that the state is serialised by running `rpc.serialize_properties` to its end directly when it
        never waits (plain values: it does not, so the proto is the same), and through `_sync_await` otherwise.
        `_sync_await` runs a round of this worker thread's event loop, whose `epoll` releases the GIL: getting it
        back from the program's thread cost ~6 ms per resource (switch interval), 70% of a registration.
        Returns the response and the deserialised inputs (the SDK's own deserialisation, reused)."""
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == "pulumi:pulumi:Stack":
            return resource_pb2.RegisterResourceResponse(urn=urn), None
        pulumi_mocks._ensure_event_loop()  # deserialising resource references needs a loop on this thread
        inputs = rpc.deserialize_properties(request.object)
        resource_args = pulumi_mocks.MockResourceArgs(
            typ=request.type,
            name=request.name,
            inputs=inputs,
            provider=request.provider,
            resource_id=request.importId,
            custom=request.custom or False,
            transforms=pulumi_mocks._resolve_callbacks(request.transforms),
        )
        id_, state = self.mocks.new_resource(resource_args)
        obj_proto = _run_to_end(rpc.serialize_properties(state, {}))
        if obj_proto is _WAITED:
            obj_proto = pulumi_mocks._sync_await(rpc.serialize_properties(state, {}))
        self.resources[urn] = pulumi_mocks.MockMonitor.ResourceRegistration(urn, id_, state)
        return resource_pb2.RegisterResourceResponse(urn=urn, id=id_, object=obj_proto), inputs

    def RegisterResource(self, request):  # noqa: N802 - gRPC method name
        response, deserialized = self._mock_register(request)
        if deserialized is None:
            return response
        secret_paths: set[str] = set()
        inputs = _plain(deserialized, "", secret_paths)
        state = _plain(self.resources[response.urn].state, "", set())
        record = Recorded(
            type=request.type,
            name=request.name,
            urn=response.urn,
            custom=bool(request.custom),
            inputs=inputs,
            secret_paths=frozenset(secret_paths),
            parent=request.parent or None,
            provider=request.provider or None,
            dependencies=tuple(request.dependencies),
            outputs=state,
            protect=bool(request.protect),
            retain_on_delete=bool(request.retainOnDelete),
            remote=bool(request.remote),
        )
        with self._lock:
            if response.urn in self.records:
                self.duplicate_urns.append(response.urn)
            self.records[response.urn] = record
            if request.transforms:
                self.transforms[response.urn] = [self._transform_function(c.token) for c in request.transforms]
        return response

@dataclass
class Recording:
    """Everything one run of the program registered."""

    settings: StackSettings
    resources: list[Recorded]
    stack_outputs: dict[str, Any]

    renders: dict[str, Rendered] = field(default_factory=dict)  # Chart / ConfigFile URN -> its render
    preview: bool = False
    # URNs registered twice (by the program, or a chart object colliding with another): `pulumi up` fails on each.
    duplicate_urns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.by_urn = {r.urn: r for r in self.resources}

    def of_type(self, type_token: str) -> list[Recorded]:
        return [r for r in self.resources if r.type == type_token]

    def named(self, name: str, type_token: str | None = None) -> Recorded:
        found = [r for r in self.resources if r.name == name and (type_token is None or r.type == type_token)]
        if len(found) != 1:
            raise KeyError(f"{len(found)} resources named {name!r} of type {type_token or 'any'}")
        return found[0]

    def ancestors(self, record: Recorded) -> Iterator[Recorded]:
        parent = record.parent
        while parent and parent in self.by_urn:
            yield self.by_urn[parent]
            parent = self.by_urn[parent].parent

    def layer_of(self, record: Recorded) -> str:
        """The layer a resource belongs to: the `<layer>` of its outermost `magento:<layer>:*` ancestor."""
        layer = "stack"
        for node in [record, *self.ancestors(record)]:
            if node.type.startswith("magento:"):
                layer = node.type.split(":")[1]
        return layer

    def descendants(self, record: Recorded) -> list[Recorded]:
        return [r for r in self.resources if record in self.ancestors(r)]

    def children(self, record: Recorded) -> list[Recorded]:
        return [r for r in self.resources if r.parent == record.urn]

    def kubernetes_objects(self) -> list[Recorded]:
        return [r for r in self.resources if r.is_kubernetes_object]

    def own_objects(self) -> list[Recorded]:
        """Kubernetes objects the program registers itself (not rendered by a chart or manifest)."""
        return [r for r in self.resources if r.is_kubernetes_object and r.rendered_by is None]

    def rendered_objects(self) -> list[Recorded]:
        return [r for r in self.resources if r.rendered_by is not None]


def _reset_runtime() -> None:
    runtime_settings.ROOT.set(None)


def install(settings: StackSettings, preview: bool = False) -> RecordingMonitor:
    """Reset the runtime and install a recording mock engine with the stack's configuration."""
    _reset_runtime()
    mocks = RecordingMocks(preview)
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project=settings.project, stack=settings.stack, preview=preview, monitor=monitor)
    pulumi.runtime.set_all_config(dict(settings.config), list(settings.secret_keys))
    return monitor


def kubernetes_version(settings: StackSettings) -> str:
    """The cluster's Kubernetes version from the stack settings (what the provider reports at render)."""
    from components import versions

    raw = settings.config.get(f"{settings.project}:cluster")
    try:
        cluster = json.loads(raw) if raw else {}
    except json.JSONDecodeError:
        cluster = {}
    return str((cluster or {}).get("kubernetesVersion") or versions.KUBERNETES_DEFAULT).lstrip("v")


Transform = Callable[[pulumi.ResourceTransformArgs], Any]


def apply_transforms(
    obj: dict[str, Any], type_token: str, name: str, transforms: list[Transform], retained: list[bool] | None = None
) -> dict[str, Any]:
    """The object after the program's resource transforms, as the engine applies them to a child the provider
    registers: each transform gets the child's type, name and properties and may return new properties (and
    options: a transform that sets `retain_on_delete` is recorded in `retained`)."""
    for transform in transforms:
        result = transform(pulumi.ResourceTransformArgs(custom=True, type_=type_token, name=name, props=obj,
                                                        opts=pulumi.ResourceOptions()))
        if result is not None:
            obj = dict(result.props)
            if retained is not None and result.opts is not None and result.opts.retain_on_delete:
                retained.append(True)
    return obj


def _children(by_urn: dict[str, Recorded], rendered: Rendered, parent: Recorded, monitor: RecordingMonitor) -> list[Recorded]:
    """The records the provider registers for a rendered chart or manifest, children of `parent`."""
    qualified = parent.urn.split("::")[2]
    project_stack = parent.urn.split("::")[:2]
    chain, node = [], parent
    while node is not None:
        chain += monitor.transform_functions(node.urn)
        node = by_urn.get(node.parent) if node.parent else None
    children = []
    for index, original in enumerate(rendered.objects):
        type_token = child_type(original)
        name = rendered.child_name(original)
        retained: list[bool] = []
        obj = apply_transforms(original, type_token, name, chain, retained)
        rendered.objects[index] = obj
        secret_paths = frozenset(key for key in ("data", "stringData") if obj.get("kind") == "Secret" and key in obj)
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        children.append(Recorded(
            type=type_token,
            name=name,
            urn="::".join([*project_stack, f"{qualified}${type_token}", name]),
            custom=True,
            inputs=obj,
            secret_paths=secret_paths,
            parent=parent.urn,
            provider=parent.provider,
            dependencies=(),
            outputs=dict(obj),
            retain_on_delete=annotations.get("helm.sh/resource-policy") == "keep" or bool(retained),
            rendered_by=parent.urn,
        ))
    return children


def render_charts(
    resources: list[Recorded], settings: StackSettings, monitor: RecordingMonitor
) -> tuple[list[Recorded], dict[str, Rendered]]:
    """Render every Chart / ConfigFile the program registered; return their children and the renders."""
    targets = [r for r in resources if r.type in RENDERED_TYPES and r.remote]
    if not targets:
        return [], {}
    own = [r.inputs for r in resources if r.is_kubernetes_object]
    renders = render_all(
        [(r.type, r.urn, r.name, r.inputs) for r in targets], kube_version=kubernetes_version(settings), extra_objects=own
    )
    children: list[Recorded] = []
    by_urn = {r.urn: r for r in resources}  # once, not once per chart
    for record, rendered in zip(targets, renders, strict=True):
        children += _children(by_urn, rendered, record, monitor)
    return children, {r.urn: r for r in renders}


def run_program(
    settings: StackSettings, program: Callable[[], None] | None = None, *, preview: bool = False
) -> Recording:
    """Run the program (default: program.main) under mocks with the given stack settings, then render its
    charts and manifests as the provider does.

    Configuration errors (components.config.ConfigError) propagate before anything is registered.
    """
    if program is None:
        from program import main as program

    monitor = install(settings, preview)
    stack_outputs: dict[str, Any] = {}

    async def collect(outputs: dict[str, Any]) -> None:
        for key, value in outputs.items():
            output = pulumi.Output.from_input(value)
            secret = await output.is_secret()
            stack_outputs[key] = {"secret": secret, "value": _plain(await output.future(), "", set())}

    def body() -> Any:
        program()
        root = runtime_settings.get_root_resource()
        return pulumi.Output.from_input(asyncio.ensure_future(collect(dict(root.outputs))))

    pulumi.runtime.test(body)()
    resources = sorted(monitor.records.values(), key=lambda r: r.urn)
    children, renders = render_charts(resources, settings, monitor)
    registered = {r.urn for r in resources}
    duplicates = [*monitor.duplicate_urns]
    for child in children:
        if child.urn in registered:
            duplicates.append(child.urn)
        registered.add(child.urn)
    return Recording(settings, sorted(resources + children, key=lambda r: r.urn), stack_outputs, renders, preview,
                     tuple(duplicates))
