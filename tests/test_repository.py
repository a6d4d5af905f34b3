"""What a clean clone holds: nothing of one engineer's machine (the virtualenv, Helm, caches) is tracked."""

from __future__ import annotations

import subprocess

from offline.stackfile import ROOT

# Made by `make` in the work tree (Makefile: .venv, .tools/helm via offline/install_helm.py) or by a run.
LOCAL_ONLY = (".venv", ".tools", "build", ".pytest_cache", ".ruff_cache", "policy/venv")


def tracked() -> list[tuple[str, str]]:
    """(mode, path) of every tracked file, as git stores them (120000: a symbolic link)."""
    out = subprocess.run(["git", "ls-files", "-s"], cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return [(line.split()[0], line.split("\t", 1)[1]) for line in out.splitlines()]


def test_no_local_tool_directory_is_tracked():
    # A tracked `.tools` link (to the author's own .tools) once made every clone's `make` fail: Helm could not
    # be installed into a link that pointed at itself.
    files = tracked()
    assert files, "not a git checkout"
    assert [p for _, p in files if p.split("/", 1)[0] in LOCAL_ONLY or p.startswith(LOCAL_ONLY)] == []


def test_no_tracked_symbolic_link_leaves_the_repository():
    for mode, path in tracked():
        if mode != "120000":
            continue
        target = (ROOT / path).resolve()
        assert target.is_relative_to(ROOT.resolve()), f"{path} links outside the repository ({target})"
