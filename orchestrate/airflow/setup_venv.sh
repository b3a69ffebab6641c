#!/usr/bin/env bash
# Airflow in its own virtualenv (orchestrate/airflow/.venv), kept out of the project's
# dependencies: Airflow pins many packages. Idempotent; cached between runs by a stamp file.
#   bash orchestrate/airflow/setup_venv.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
AIRFLOW_VERSION="${AIRFLOW_VERSION:-3.3.2}"
PY="${AIRFLOW_PYTHON:-python3}"
venv="$here/.venv"
stamp="$venv/.installed-$AIRFLOW_VERSION"
if [ -f "$stamp" ] && [ -x "$venv/bin/airflow" ]; then
  exit 0
fi
uv="$root/.venv/bin/uv"
if [ -x "$uv" ]; then
  "$uv" venv -q --allow-existing -p "$PY" "$venv"
  "$uv" pip install -q -p "$venv/bin/python" "apache-airflow==$AIRFLOW_VERSION"
else
  "$PY" -m venv "$venv"
  "$venv/bin/pip" install -q "apache-airflow==$AIRFLOW_VERSION"
fi
touch "$stamp"
echo "airflow $AIRFLOW_VERSION installed in $venv"
