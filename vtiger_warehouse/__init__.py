"""Warehouse-side helpers for loading Vtiger data (run inside a loader's own environment)."""
