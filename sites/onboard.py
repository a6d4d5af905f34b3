"""Onboard a store in one command: `make new-site NAME=<name> ENV=<env> DOMAIN=<host> IMAGE=<repo:tag>`
(or `python -m sites.onboard --name ... --env ... --domain ... --image ...`).

Writes, from the templates below:

* `sites/stores/<env>/<name>.yaml`: the store's settings (the `Site` model; size class small, WAF in
  detection-only mode, media on object storage, deployment: stack);
* `Pulumi.<env>-site-<name>.yaml`: its own stack, reading the platform stack `<org>/magento/<env>`.

It refuses a name that is not a DNS label of at most 30 characters, a store that already exists (in the
platform stack file, as a site file, or as a stack file), and any setting the platform stack would reject
with the store added (the whole environment is validated, as `pulumi up` would). Nothing is written
unless everything is valid. It prints the next steps.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from components.config.checks import Problem
from components.config.loader import ConfigError, validate
from components.config.site_files import ROOT, STORES, site_file, site_files

SITE_TEMPLATE = """\
# Store {name} ({env}), onboarded with `make new-site`. Review before the first `pulumi up`: the size
# class, quota, admin allow-list and WAF mode (start in detection-only, switch to blocking after a week
# of clean logs). Reference: docs/configuration.md (sites) and docs/sites.md.
name: {name}
deployment: stack
domains: [{domain}]
image:
  repository: {repository}
  tag: "{tag}"
size: small
quota: {{cpu: "8", memory: 16Gi, storage: 50Gi, pods: 60}}
media:
  backend: {media}
edge:
  adminPath: admin
  adminAllowCidrs: []
  waf:
    mode: detection-only
"""

STACK_TEMPLATE = """\
# The own stack of store {name}: `pulumi stack init {env}-site-{name}`, then `pulumi up --stack {env}-site-{name}`.
# It reads the platform stack's outputs (kubeconfig, siteTenancy.{name}, sitePlatform) through a
# StackReference and owns only the objects in namespace site-{name}.
config:
  pulumi:disable-default-providers: ["kubernetes", "aws", "command"]
  magento:environment: {env}
  magento:platformStack: {platform}
  magento:siteFile: {site_file}
"""


def _platform_values(root: Path, env: str) -> dict[str, Any]:
    path = root / f"Pulumi.{env}.yaml"
    if not path.is_file():
        raise ConfigError([Problem("env", f"Pulumi.{env}.yaml does not exist: onboard into an existing environment")])
    document = yaml.safe_load(path.read_text()) or {}
    return {key.split(":", 1)[1]: value for key, value in (document.get("config") or {}).items() if key.startswith("magento:")}


def onboard(root: Path, name: str, env: str, domain: str, image: str, org: str = "organization") -> list[Path]:
    """Write the store's site file and stack file under `root`, or raise ConfigError (nothing written)."""
    problems: list[Problem] = []
    if not name or len(name) > 30 or not all(c.islower() or c.isdigit() or c == "-" for c in name) or name[0] == "-" or name[-1] == "-":
        problems.append(Problem("name", f"{name!r} is not a store name: at most 30 lower-case letters, digits and '-'"))
    repository, _, tag = image.rpartition(":")
    if not repository or "/" in tag:
        problems.append(Problem("image", f"{image!r} is not repository:tag (for example harbor.example.com/shops/{name}:2.4.8-p3-1)"))
    if problems:
        raise ConfigError(problems)
    values = _platform_values(root, env)
    site_path = site_file(root, env, name)
    stack_path = root / f"Pulumi.{env}-site-{name}.yaml"
    existing = {s.get("name") for s in values.get("sites") or []} | {s.get("name") for s in site_files(env, root)}
    if name in existing or site_path.exists() or stack_path.exists():
        raise ConfigError([Problem("name", f"store {name!r} already exists in {env} (stack file, {STORES}/{env}/ or its stack)")])
    media = "s3" if values.get("backup") else "pvc"
    site_text = SITE_TEMPLATE.format(name=name, env=env, domain=domain.lower(), repository=repository, tag=tag, media=media)
    site_values = yaml.safe_load(site_text)
    # The environment as `pulumi up` of the platform would see it, with the new store in it.
    values["sites"] = list(values.get("sites") or []) + site_files(env, root) + [site_values]
    try:
        validate(values)
    except ConfigError as error:
        raise ConfigError([Problem(p.path.replace(f"sites[{len(values['sites']) - 1}]", name), p.message) for p in error.problems]) from None
    relative = site_path.relative_to(root).as_posix()
    site_path.parent.mkdir(parents=True, exist_ok=True)
    site_path.write_text(site_text)
    stack_path.write_text(STACK_TEMPLATE.format(name=name, env=env, platform=f"{org}/magento/{env}", site_file=relative))
    return [site_path, stack_path]


def next_steps(name: str, env: str, paths: list[Path]) -> str:
    written = "\n".join(f"  {p}" for p in paths)
    return f"""wrote:
{written}
next steps:
  1. review the site file (size, quota, admin allow-list, WAF mode) and commit both files;
  2. platform stack: `pulumi up --stack {env}` creates the store's tenancy (database, vhost, Valkey, search user,
     media prefix and, with backup.mediaCredentials ovh, its own media key; with manual, make the key by hand:
     docs/runbooks/media-credentials.md) and its listeners and certificate at the Gateway;
  3. install the store once (docs/sites.md, "First installation");
  4. `pulumi stack init {env}-site-{name}` and `pulumi up --stack {env}-site-{name}` deploy its workloads;
  5. point DNS for its domains at the Gateway address."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sites.onboard", description="Onboard a Magento store.")
    parser.add_argument("--name", required=True)
    parser.add_argument("--env", required=True)
    parser.add_argument("--domain", required=True, help="the store's first host name")
    parser.add_argument("--image", required=True, help="the store's built image, repository:tag")
    parser.add_argument("--org", default="organization", help="Pulumi organisation of the platform stack")
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        paths = onboard(args.root, args.name, args.env, args.domain, args.image, args.org)
    except ConfigError as error:
        for problem in error.problems:
            print(f"configuration error: {problem}", file=sys.stderr)
        return 1
    print(next_steps(args.name, args.env, paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
