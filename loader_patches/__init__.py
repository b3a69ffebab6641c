"""Patches of the warehouse loaders (target-postgres, target-duckdb) that keep Vtiger's data
whole: date-times as instants, soft delete that keeps a deleted record's last values. Each runs
inside its loader's own plugin environment, never the project's.
"""
