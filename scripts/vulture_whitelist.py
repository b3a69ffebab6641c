"""Names vulture reports as unused that a framework calls (``vulture`` reads this file too).

``tests/client/test_package_boundaries.py`` runs vulture over the repository with this list;
each entry says who uses the name.
"""

from vtiger_sandbox.cli import _Server

_Server.handle_exit  # uvicorn's signal handler calls it on SIGTERM/SIGINT  # noqa: B018
_Server.force_exit  # uvicorn reads it to stop without waiting for connections  # noqa: B018
