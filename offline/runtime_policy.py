"""What the stack's KubeArmorPolicies would do to the stack's own pods: every exec a selected pod makes at
start, on a probe or on a lifecycle hook that a policy's process rules match, and every writable volume a
selected container mounts where a policy's file rules allow reading only.

KubeArmor (v1.7, components/platform/runtime.py) matches a policy's `selector` against the pod's labels in the
policy's namespace and enforces on the pod's containers (optionally narrowed by a `kubearmor.io/container.name`
annotation, which we do not use); it enforces nothing on init containers (kubearmor/KubeArmor#870: "decided
not to enable enforcement for init containers as they are short lived"). Init containers are checked all the
same: they run the same image in the same pod, and enforcement on them would break the pod at start, so they
must not depend on that gap. The process rules (`matchPaths`, `matchDirectories`) match the executable that
`execve` runs, the container's entrypoint included; a rule with `fromSource` applies only to children of that
source, never to what the runtime or the kubelet execs (entrypoint, exec probe, exec hook: their parent is the
runtime), so it is not checked here. An `Audit` policy is checked as strictly as `Block`: each match would be an
alert on every start or stop, and `platform.admission.runtimeBlockSites` flips a site to Block without
touching its pods.

The executable of a bare name is every `<dir>/<name>` over the container's PATH (the image default when the
pod sets none); the check counts a violation if any of them is blocked (the runtime takes the first that exists,
which only the image knows). A container without `command` runs its image's ENTRYPOINT: known for the images
in IMAGE_ENTRYPOINTS, otherwise a violation (it must be declared before the check can clear it).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from typing import Any

from offline.engine import Recording
from offline.references import pod_template

# The official php and Debian images' PATH (`docker inspect`; docker-library/php Dockerfile-linux.template
# inherits Debian's), what a bare name resolves over when the container sets no PATH.
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# ENTRYPOINT of images our pods run without `command` (repository without tag or digest).
IMAGE_ENTRYPOINTS: dict[str, tuple[str, ...]] = {
    # github.com/hipages/php-fpm_exporter Dockerfile (its .goreleaser.yml `dockers` builds the release images from
    # it): FROM scratch, ENTRYPOINT ["/bin/php-fpm_exporter", "server"]; a static binary, no shell in the image.
    "docker.io/hipages/php-fpm_exporter": ("/bin/php-fpm_exporter", "server"),
}
POLICY_KIND = "KubeArmorPolicy"


def _repository(image: str) -> str:
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return name.rsplit(":", 1)[0] if ":" in last else name


def executables(argv0: str, env: list[dict[str, Any]]) -> list[str]:
    """The paths `argv0` may execute: itself when it has a slash, else each PATH candidate."""
    if "/" in argv0:
        return [posixpath.normpath(argv0)]
    path = next((e.get("value") for e in env if e.get("name") == "PATH" and isinstance(e.get("value"), str)), None) or DEFAULT_PATH
    return [posixpath.join(directory, argv0) for directory in path.split(":") if directory]


def _under(path: str, directory: str, recursive: bool) -> bool:
    directory = directory.rstrip("/") + "/"
    if not path.startswith(directory):
        return False
    return recursive or "/" not in path[len(directory):]


def blocked_executable(spec: dict[str, Any], path: str) -> str | None:
    """The process rule of `spec` that matches executing `path` (None: not matched)."""
    process = spec.get("process") or {}
    for rule in process.get("matchPaths") or []:
        if not rule.get("fromSource") and rule.get("path") == path:
            return f"process.matchPaths {rule['path']}"
    for rule in process.get("matchDirectories") or []:
        if not rule.get("fromSource") and _under(path, rule["dir"], bool(rule.get("recursive"))):
            return f"process.matchDirectories {rule['dir']}"
    return None


def read_only_rule(spec: dict[str, Any], mount_path: str) -> str | None:
    """The file rule of `spec` that makes `mount_path` (a directory a volume is mounted on) read-only."""
    file = spec.get("file") or {}
    target = mount_path.rstrip("/")
    written = target + "/file"  # what a container writes into the volume
    for rule in file.get("matchDirectories") or []:
        if rule.get("readOnly") and not rule.get("fromSource") and _under(written, rule["dir"], bool(rule.get("recursive"))):
            return f"file.matchDirectories {rule['dir']} (readOnly)"
    for rule in file.get("matchPaths") or []:
        if rule.get("readOnly") and not rule.get("fromSource") and rule.get("path") == target:
            return f"file.matchPaths {rule['path']} (readOnly)"
    return None


def _execs(container: dict[str, Any]) -> Iterator[tuple[str, list[str]]]:
    """(where, argv) of every exec of a container: its start, its exec probes and exec hooks."""
    command = container.get("command")
    if command:
        yield "command", [str(a) for a in command]
    else:
        entrypoint = IMAGE_ENTRYPOINTS.get(_repository(str(container.get("image", ""))))
        yield "image entrypoint", list(entrypoint) if entrypoint is not None else []
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        argv = ((container.get(probe) or {}).get("exec") or {}).get("command")
        if argv:
            yield f"{probe}.exec", [str(a) for a in argv]
    for hook in ("postStart", "preStop"):
        argv = (((container.get("lifecycle") or {}).get(hook) or {}).get("exec") or {}).get("command")
        if argv:
            yield f"lifecycle.{hook}.exec", [str(a) for a in argv]


def pod_violations(spec: dict[str, Any], pod: dict[str, Any]) -> list[str]:
    """Each exec or writable mount of `pod` (a pod spec) that the KubeArmorPolicy `spec` would match."""
    found = []
    volumes = {v["name"]: v for v in pod.get("volumes") or []}
    containers = [(c, "init container") for c in pod.get("initContainers") or []] + [(c, "container") for c in pod.get("containers") or []]
    for container, role in containers:
        name, env = container.get("name"), container.get("env") or []
        for where, argv in _execs(container):
            if not argv:
                found.append(f"{role} {name}: no command and the entrypoint of image {container.get('image')} is unknown "
                             "(offline/runtime_policy.py IMAGE_ENTRYPOINTS)")
                continue
            # `env [-opts] [NAME=value] program ...` runs program: check that too.
            programs = [argv[0]]
            if posixpath.basename(argv[0]) == "env":
                programs += [a for a in argv[1:] if not a.startswith("-") and "=" not in a][:1]
            for program in programs:
                for path in executables(program, env):
                    rule = blocked_executable(spec, path)
                    if rule:
                        found.append(f"{role} {name} {where} {argv[0]!r} executes {path}: matched by {rule}")
                        break
        for mount in container.get("volumeMounts") or []:
            volume = volumes.get(mount.get("name"), {})
            if mount.get("readOnly") or any(k in volume for k in ("secret", "configMap", "projected", "downwardAPI")):
                continue  # mounted read-only (Secrets and ConfigMaps always are)
            rule = read_only_rule(spec, str(mount["mountPath"]))
            if rule:
                found.append(f"{role} {name} mounts volume {mount['name']} writable at {mount['mountPath']}: {rule} forbids writing there")
    return found


def _selects(policy: dict[str, Any], template: dict[str, Any], namespace: str | None) -> bool:
    if (policy.get("metadata") or {}).get("namespace") != namespace:
        return False
    labels = (template.get("metadata") or {}).get("labels") or {}
    match = ((policy.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return all(labels.get(key) == value for key, value in match.items())


def runtime_policy_check(recording: Recording) -> dict[str, Any]:
    """Every KubeArmorPolicy against every pod template of its namespace it selects (see the module docstring)."""
    objects = [r.inputs for r in recording.kubernetes_objects()]
    policies = [o for o in objects if o.get("kind") == POLICY_KIND and str(o.get("apiVersion", "")).startswith("security.kubearmor.com/")]
    problems: list[str] = []
    checked = 0
    for obj in objects:
        template = pod_template(obj)
        if template is None:
            continue
        meta = obj.get("metadata") or {}
        for policy in policies:
            if not _selects(policy, template, meta.get("namespace")):
                continue
            checked += 1
            what = f"{obj['kind']} {meta.get('namespace')}/{meta.get('name')}"
            policy_name = f"{POLICY_KIND} {meta.get('namespace')}/{policy['metadata']['name']} ({policy['spec'].get('action')})"
            problems += [f"{what}: {v} of {policy_name}" for v in pod_violations(policy["spec"], template.get("spec") or {})]
    return {"checked": checked, "problems": problems}
