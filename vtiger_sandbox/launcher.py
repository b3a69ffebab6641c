"""``vtiger-sandbox``: the server's command, usable even where its dependencies are missing.

The server's dependencies (starlette, uvicorn, lark) are the ``[sandbox]`` extra, so that
installing the tap or the target alone does not pull them in. Without them the command says so
in one line (exit 2) instead of an ImportError traceback.
"""

from __future__ import annotations

import sys

SERVER_DEPENDENCIES = ("starlette", "uvicorn", "lark")


def main() -> None:
    """Run the sandbox's CLI, or name the missing extra."""
    try:
        from vtiger_sandbox.cli import main as serve
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in SERVER_DEPENDENCIES:
            raise
        sys.stderr.write(f"vtiger-sandbox: the sandbox server needs {exc.name}, which is not "
                         "installed: pip install 'tap-vtiger[sandbox]'\n")
        sys.exit(2)
    sys.exit(serve())
