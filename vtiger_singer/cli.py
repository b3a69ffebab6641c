"""The command line both connectors share: a ``--config`` or ``--state`` file that cannot be
read is one line naming the file and the place, exit 1, never a JSON decoder traceback.
"""

from __future__ import annotations

import json
import typing as t
from pathlib import Path


def json_file_problem(path: str, what: str) -> str | None:
    """Why the JSON object file ``path`` (a ``--config`` or ``--state``) cannot be read, in
    one line naming the file and the place (line, column), or None when it can.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return f"{what} file {path} not found"
    except (OSError, UnicodeDecodeError) as exc:
        return f"{what} file {path} cannot be read ({type(exc).__name__})"
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return (f"{what} file {path} is not valid JSON (line {exc.lineno} column {exc.colno}: "
                f"{exc.msg}); fix the file")
    except (ValueError, RecursionError) as exc:
        return f"{what} file {path} is not valid JSON ({type(exc).__name__}); fix the file"
    if not isinstance(value, dict):
        return f"{what} file {path} must hold a JSON object"
    return None


class CheckedConfigFiles:
    """Mixin for a Tap or Target (before it in the bases): the SDK's ``--config`` reading,
    with a file that is not a JSON object reported in one line, exit 1.
    """

    #: What the one line starts with (the connector's name, and how it ends).
    config_problem_prefix: t.ClassVar[str] = ""

    @classmethod
    def cb_config(cls, ctx: t.Any, param: t.Any, value: tuple[str, ...]) -> t.Any:
        """Check every file named by ``--config`` (``ENV`` reads the environment), then read
        them as the SDK does.
        """
        for path in value:
            problem = None if path == "ENV" else json_file_problem(path, "config")
            if problem:
                cls.logger.error("%s: %s", cls.config_problem_prefix, problem)  # type: ignore[attr-defined]
                ctx.exit(1)
        return super().cb_config(ctx, param, value)  # type: ignore[misc]
