"""The built wheel carries the describe documents, and a sandbox started from it serves them.

The sandbox ships with the product (``vtiger-sandbox serve``), so it must not read anything
from the repository: the wheel is built offline (installed setuptools, no build isolation) from
a copy of the sources, unpacked into a temporary directory and run from another one, with only
that directory on ``PYTHONPATH`` ahead of the environment's site-packages.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import requests
from serve_process import ServeProcess

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas"
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")


def _copy_sources(dest: Path) -> None:
    """The top-level files (pyproject.toml, README.md, ...) and the packages, without leftovers.

    A copy, so that the build neither writes ``build/`` or ``*.egg-info`` into the work tree nor
    reuses a stale ``SOURCES.txt`` from there (which would hide a missing package-data glob);
    ``[tool.setuptools.packages.find]`` still decides which packages go into the wheel.
    """
    dest.mkdir(parents=True)
    for child in ROOT.iterdir():
        if child.is_file() and not child.is_symlink():
            shutil.copy2(child, dest)
        elif child.is_dir() and not child.is_symlink() and (child / "__init__.py").exists():
            shutil.copytree(child, dest / child.name, ignore=IGNORE)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("wheel")
    src, out = base / "src", base / "dist"
    _copy_sources(src)
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation",
         "--no-index", "-w", str(out)],
        cwd=src, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, PIP_NO_INPUT="1"),
    )
    assert proc.returncode == 0, f"build failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    wheels = list(out.glob("*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_wheel_contains_the_describe_documents(wheel: Path) -> None:
    listtypes = json.loads((SCHEMAS / "_listtypes.json").read_text())
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        assert "vtiger_sandbox/schemas/_listtypes.json" in names
        packaged = {n.rsplit("/", 1)[1][: -len(".json")] for n in names
                    if n.startswith("vtiger_sandbox/schemas/") and n.endswith(".json")}
        packaged.discard("_listtypes")
        assert len(packaged) == 35, sorted(packaged)
        assert packaged == set(listtypes["types"])
        assert packaged == {p.stem for p in SCHEMAS.glob("*.json")} - {"_listtypes"}
        assert json.loads(zf.read("vtiger_sandbox/schemas/_listtypes.json")) == listtypes
        # the other package data the sandbox loads at start
        assert {"vtiger_sandbox/vtql.lark", "vtiger_sandbox/apidesigner_demo.xml"} <= names
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        assert "vtiger-sandbox = vtiger_sandbox.launcher:main" in zf.read(entry_points).decode()


def test_the_sandbox_servers_dependencies_come_only_with_the_sandbox_extra(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        metadata = zf.read(next(n for n in zf.namelist()
                                if n.endswith(".dist-info/METADATA"))).decode()
    requires = [line.split(":", 1)[1].strip() for line in metadata.splitlines()
                if line.startswith("Requires-Dist:")]
    for name in ("starlette", "uvicorn", "lark"):
        mine = [r for r in requires if r.split(">")[0].split("<")[0].split("[")[0].strip() == name]
        assert mine and all('extra == "sandbox"' in r for r in mine), (name, mine)
    assert any(r.startswith("tap-vtiger[sandbox]") and 'extra == "dev"' in r for r in requires)


def test_sandbox_from_the_unpacked_wheel_serves_listtypes_and_describe(
    wheel: Path, tmp_path: Path
) -> None:
    site, run = tmp_path / "site", tmp_path / "run"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    run.mkdir()
    env = dict(os.environ, PYTHONPATH=str(site))
    # the subprocess really imports the unpacked wheel, not the work tree (editable install)
    where = subprocess.run(
        [sys.executable, "-c", "import vtiger_sandbox.cli, vtiger_sandbox.modules as m; "
         "print(vtiger_sandbox.cli.__file__); print(m.SCHEMAS_DIR)"],
        cwd=run, env=env, capture_output=True, text=True, timeout=60, check=True,
    ).stdout.split()
    assert all(Path(p).is_relative_to(site) for p in where), (where, site)

    cmd = [sys.executable, "-m", "vtiger_sandbox.cli", "serve", "--port", "0",
           "--db", str(run / "crm.sqlite"), "--access-key", "wheel-key", "--flavor", "cloud"]
    with ServeProcess(cmd, cwd=run, env=env) as server:
        http = requests.Session()
        http.auth = ("admin", "wheel-key")
        resp = http.get(f"{server.rest_url}/listtypes", timeout=30)
        assert resp.status_code == 200, resp.text[:500]
        types = resp.json()["result"]["types"]
        assert set(types) == set(json.loads((SCHEMAS / "_listtypes.json").read_text())["types"])

        resp = http.get(f"{server.rest_url}/describe", params={"elementType": "Contacts"},
                        timeout=30)
        assert resp.status_code == 200, resp.text[:500]
        describe = resp.json()["result"]
        shipped = json.loads((site / "vtiger_sandbox" / "schemas" / "Contacts.json").read_text())
        assert describe["name"] == "Contacts"
        assert [f["name"] for f in describe["fields"]] == [f["name"] for f in shipped["fields"]]
        assert "lastname" in {f["name"] for f in describe["fields"]}
        assert server.stop() == 0


@pytest.mark.parametrize("missing", ["uvicorn", "starlette", "lark"])
def test_the_command_without_the_sandbox_extra_says_so_in_one_line(missing: str) -> None:
    # installed without [sandbox]: the server's dependencies cannot be imported
    code = (f"import sys; sys.modules[{missing!r}] = None; "
            "from vtiger_sandbox.launcher import main; main()")
    proc = subprocess.run([sys.executable, "-c", code, "serve"], capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert missing in proc.stderr and "tap-vtiger[sandbox]" in proc.stderr


def test_the_command_runs_the_server_cli_when_installed() -> None:
    vtiger_sandbox = str(Path(sys.executable).parent / "vtiger-sandbox")
    proc = subprocess.run([vtiger_sandbox, "--help"], capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    assert proc.returncode == 0
    assert "serve" in proc.stdout
