#!/usr/bin/env python3
"""Regenerate the settings of tap-vtiger and target-vtiger in meltano.yml from `--about`.

Meltano Hub builds a plugin's settings from the connector's `--about --format=json`; this
does the same for our two plugins, so meltano.yml lists every setting with its kind,
description, default, options and `sensitive: true` for secrets. Comments and the rest of
meltano.yml are kept (ruamel round-trip).

    python scripts/meltano_settings.py           # rewrite meltano.yml
    python scripts/meltano_settings.py --check   # exit 1 if meltano.yml is out of date
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedSeq

ROOT = Path(__file__).resolve().parent.parent
MELTANO_YML = ROOT / "meltano.yml"
CONNECTORS = {"extractors": "tap-vtiger", "loaders": "target-vtiger"}
#: JSON Schema type -> Meltano kind. A "number" is declared `kind: string`: Meltano 4.4 turns a
#: `kind: decimal` value from an environment variable into a Decimal and then crashes writing
#: the plugin's config ("Decimal is not JSON serializable"); as a string it passes "30" on and
#: the connectors read numeric strings as numbers (vtiger_singer.settings.numbers_from_strings).
KIND_BY_TYPE = {
    "integer": "integer",
    "number": "string",
    "boolean": "boolean",
    "array": "array",
    "object": "object",
}


def about(executable: str) -> dict:
    candidate = Path(sys.executable).parent / executable
    cmd = [str(candidate) if candidate.exists() else executable, "--about", "--format=json"]
    return json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)


def json_type(schema: dict) -> str:
    types = schema.get("type", "string")
    if isinstance(types, list):
        types = next((t for t in types if t != "null"), "string")
    return types


def label(name: str, schema: dict) -> str:
    return schema.get("title") or name.replace("_", " ").capitalize().replace("Api ", "API ")


def setting(name: str, schema: dict) -> dict:
    entry: dict = {"name": name}
    if schema.get("secret"):
        kind = "password"
    elif schema.get("enum"):
        kind = "options"
    elif json_type(schema) == "string" and schema.get("format") in {"date-time", "date"}:
        kind = "date_iso8601"
    else:
        kind = KIND_BY_TYPE.get(json_type(schema), "string")
    entry["kind"] = kind
    entry["label"] = label(name, schema)
    description = " ".join((schema.get("description") or "").split())
    entry["description"] = description or label(name, schema)
    if "default" in schema and schema["default"] not in (None, {}, []):
        entry["value"] = schema["default"]
    if kind == "options":
        entry["options"] = [{"label": str(v), "value": v} for v in schema["enum"]]
    if schema.get("secret"):
        entry["sensitive"] = True
    return entry


def render(document: dict, yaml: YAML) -> str:
    buffer = io.StringIO()
    yaml.dump(document, buffer)
    return buffer.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check, exit 1 if stale")
    args = parser.parse_args()
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 100
    yaml.indent(mapping=2, sequence=2, offset=0)
    original = MELTANO_YML.read_text()
    document = yaml.load(original)
    failed = []
    for kind, name in CONNECTORS.items():
        try:
            info = about(name)
        except subprocess.CalledProcessError as err:
            print(f"{name} --about failed, its settings are left as they are:\n{err.stderr}")
            failed.append(name)
            continue
        plugin = next(p for p in document["plugins"][kind] if p["name"] == name)
        plugin["capabilities"] = list(info.get("capabilities") or plugin["capabilities"])
        labels = {s["name"]: s.get("label") for s in plugin.get("settings") or []}
        plugin["settings"] = [
            setting(key, schema) for key, schema in info["settings"]["properties"].items()
        ]
        for entry in plugin["settings"]:  # hand-written labels stay
            entry["label"] = labels.get(entry["name"]) or entry["label"]
        required = info["settings"].get("required") or []
        if required:
            group = CommentedSeq(required)
            group.fa.set_flow_style()
            plugin["settings_group_validation"] = [group]
    updated = render(document, yaml)
    if args.check:
        if updated != original:
            print("meltano.yml settings are out of date: run python scripts/meltano_settings.py")
            return 1
        print("meltano.yml settings are up to date")
        return 0
    MELTANO_YML.write_text(updated)
    done = [name for name in CONNECTORS.values() if name not in failed]
    print(f"meltano.yml: settings of {', '.join(done) or 'nothing'} regenerated from --about")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
