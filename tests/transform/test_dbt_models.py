"""The generated dbt staging models are in sync with the describes in schemas/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_staging_models_are_what_the_generator_writes_from_schemas():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "dbt_models.py"), "--check"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr


def test_every_entity_module_has_a_staging_model_and_picklists_have_accepted_values():
    sys.path.insert(0, str(ROOT / "scripts"))
    import dbt_models

    generated = dbt_models.files()
    for module in dbt_models.describes():
        assert dbt_models.STAGING / f"{module.lower()}.sql" in generated
    staging_yml = generated[dbt_models.STAGING / "_staging.yml"]
    assert "Closed Won" in staging_yml  # Potentials.sales_stage's picklist values
    assert "accesskey" not in staging_yml and "user_password" not in staging_yml
