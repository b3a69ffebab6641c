#!/usr/bin/env python3
"""Run meltano so that parallel runs of the same plugin on one machine cannot collide.

Meltano 4.4 writes a plugin's generated files (`tap.properties.json`, `tap.config.json`, ...)
to `.meltano/run/<plugin>/` for `meltano run`, shared by every concurrent run of that plugin:
two extractions of tap-vtiger started at the same moment (Airflow tasks, one per module)
overwrite each other's catalog and fail. This wrapper gives each run a system directory of its
own (`.meltano/isolated/<name>/`) whose `extractors/`, `loaders/`, ... are links to the installed
plugins, while state stays in the project's one system database:

    python scripts/meltano_isolated.py Contacts -- --environment prod run \\
        --state-id-suffix Contacts tap-vtiger target-postgres

Plugins are installed first if needed (scripts/meltano_plugins.py).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from meltano_plugins import ensure, meltano_bin, sys_dir  # noqa: E402

SHARED = ("extractors", "loaders", "mappers", "utilities", "orchestrators", "transformers", "files")


def isolated_sys_dir(name: str) -> Path:
    base = sys_dir()
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "run"
    own = base / "isolated" / safe
    own.mkdir(parents=True, exist_ok=True)
    for kind in SHARED:
        (base / kind).mkdir(exist_ok=True)
        link = own / kind
        if not link.is_symlink():
            link.symlink_to(base / kind, target_is_directory=True)
    return own


def main(argv: list[str]) -> int:
    if len(argv) < 2 or "--" not in argv:
        print(__doc__, file=sys.stderr)
        return 2
    split = argv.index("--")
    name, args = argv[1], argv[split + 1 :]
    ensure(quiet=True)
    env = dict(os.environ)
    env.setdefault("MELTANO_DATABASE_URI", f"sqlite:///{sys_dir() / 'meltano.db'}")
    env["MELTANO_SYS_DIR_ROOT"] = str(isolated_sys_dir(name))
    os.chdir(ROOT)
    os.execvpe(meltano_bin(), [meltano_bin(), *args], env)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv))
