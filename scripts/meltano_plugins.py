#!/usr/bin/env python3
"""Run `meltano install` only when it is needed.

What decides the plugins' installation (meltano.yml: name, pip_url, ...) and the project's own
dependencies (pyproject.toml, which tap-vtiger and target-vtiger install editable) are hashed;
the hash is stored in the Meltano system directory after a successful install. Demo, tests
and the Airflow DAG call this first: the first call installs (uv backend: seconds), later
ones cost nothing.

    python scripts/meltano_plugins.py            # install if needed
    python scripts/meltano_plugins.py --force    # install anyway
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def meltano_bin() -> str:
    candidate = Path(sys.executable).parent / "meltano"
    return str(candidate) if candidate.exists() else "meltano"


def sys_dir() -> Path:
    return Path(os.environ.get("MELTANO_SYS_DIR_ROOT", ROOT / ".meltano"))


def definitions_hash() -> str:
    meltano_yml = yaml.safe_load((ROOT / "meltano.yml").read_text())
    # only what decides what gets installed (settings and descriptions do not)
    installing = ("name", "pip_url", "executable", "python", "inherit_from", "variant")
    relevant = {
        "plugins": {
            kind: [{k: p.get(k) for k in installing} for p in plugins]
            for kind, plugins in (meltano_yml.get("plugins") or {}).items()
        },
        "venv": meltano_yml.get("venv", {}),
        "pyproject": (ROOT / "pyproject.toml").read_text(),
        "sources": sources_hash() if packaged_project(meltano_yml) else None,
        "python": sys.version_info[:2],
    }
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()


#: The project's packages (what a non-editable install of the project copies).
PACKAGES = ("tap_vtiger", "target_vtiger", "vtiger_client", "vtiger_sandbox", "vtiger_singer",
            "loader_patches")


def packaged_project(meltano_yml: dict) -> bool:
    """Whether a plugin installs this project as a package (not ``-e``): then its venv holds
    a copy, which a change of the sources makes stale.
    """
    for plugins in (meltano_yml.get("plugins") or {}).values():
        for plugin in plugins:
            words = str(plugin.get("pip_url") or "").split()
            if "${MELTANO_PROJECT_ROOT}" in words and "-e" not in words[:words.index(
                    "${MELTANO_PROJECT_ROOT}")][-1:]:
                return True
    return False


def sources_hash() -> str:
    """Hash of the project's package files (names and contents)."""
    digest = hashlib.sha256()
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(ROOT)).encode() + b"\0")
                digest.update(path.read_bytes())
    return digest.hexdigest()


def clear_catalog_caches() -> None:
    """Forget Meltano's cached catalogs: the plugins just installed may discover differently
    (Meltano's cache key covers the settings only, not the plugin's code).
    """
    for key in (sys_dir() / "run").glob("*/*.cache_key"):
        with contextlib.suppress(OSError):
            key.unlink()


def plugin_executables() -> list[Path]:
    meltano_yml = yaml.safe_load((ROOT / "meltano.yml").read_text())
    paths = []
    for kind, plugins in meltano_yml.get("plugins", {}).items():
        for plugin in plugins:
            if plugin.get("pip_url"):
                executable = plugin.get("executable", plugin["name"])
                paths.append(sys_dir() / kind / plugin["name"] / "venv" / "bin" / executable)
    return paths


def is_installed() -> bool:
    stamp = sys_dir() / ".plugins-installed"
    return (
        stamp.exists()
        and stamp.read_text().strip() == definitions_hash()
        and all(path.exists() for path in plugin_executables())
    )


def ensure(force: bool = False, quiet: bool = False) -> float:
    """Install the plugins if needed; returns the seconds spent installing (0 when up to date)."""
    sys_dir().mkdir(parents=True, exist_ok=True)
    with open(sys_dir() / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # xdist workers and Airflow tasks may race here
        if not force and is_installed():
            return 0.0
        started = time.monotonic()
        out = None if not quiet else subprocess.PIPE
        proc = subprocess.run(
            [meltano_bin(), "install"],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT if quiet else None,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            if quiet and proc.stdout:
                sys.stderr.write(proc.stdout[-5000:])
            raise SystemExit(f"meltano install failed (exit {proc.returncode})")
        clear_catalog_caches()
        (sys_dir() / ".plugins-installed").write_text(definitions_hash() + "\n")
        with contextlib.suppress(OSError):
            os.chmod(sys_dir() / ".plugins-installed", 0o644)
        return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="install even if up to date")
    parser.add_argument(
        "--quiet", action="store_true", help="print meltano's output on failure only"
    )
    args = parser.parse_args()
    spent = ensure(force=args.force, quiet=args.quiet)
    if spent:
        print(f"meltano plugins installed in {spent:.1f}s")
    else:
        print("meltano plugins up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
