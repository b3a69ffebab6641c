"""The connection settings are declared once (vtiger_singer.settings) and mean the same in
tap-vtiger and target-vtiger: same type, default, secrecy and description, so a Meltano user
configures both connectors alike. Only the retry notes the target adds and the budget setting,
whose meaning differs on purpose, may differ.
"""

from __future__ import annotations

import pytest

from tap_vtiger.tap import CLIENT_KEYS, TapVtiger
from target_vtiger.target import TargetVtiger
from vtiger_client.config import ClientConfig
from vtiger_client.errors import ConfigError
from vtiger_singer.settings import CONNECTION_KEYS, numbers_from_strings

TARGET_NOTES = ("max_retries", "backoff_base")  # the target appends a sentence of its own


def _settings(connector) -> dict:
    return connector.config_jsonschema["properties"]


def test_every_connection_setting_is_declared_alike_by_tap_and_target():
    tap, target = _settings(TapVtiger), _settings(TargetVtiger)
    for key in CONNECTION_KEYS:
        assert key in tap and key in target, key
        if key in TARGET_NOTES:
            assert target[key]["description"].startswith(tap[key]["description"]), key
            assert {**target[key], "description": ""} == {**tap[key], "description": ""}, key
        else:
            assert target[key] == tap[key], key


def test_the_access_key_is_secret_in_both():
    for connector in (TapVtiger, TargetVtiger):
        assert _settings(connector)["access_key"].get("secret") is True
        assert "access_key" in connector.config_jsonschema["required"]


def test_the_declared_settings_are_exactly_what_the_client_reads():
    # a ClientConfig field without a setting could not be configured; a setting without a
    # field would be silently ignored
    assert set(CLIENT_KEYS) == set(ClientConfig.__dataclass_fields__)
    assert set(CONNECTION_KEYS) | {"api_budget_percent"} == set(CLIENT_KEYS)


def test_the_budget_setting_keeps_its_own_meaning_per_connector():
    tap, target = _settings(TapVtiger), _settings(TargetVtiger)
    assert "default" not in tap["api_budget_percent"]  # the tap: no budget unless asked
    assert target["api_budget_percent"]["default"] == 100  # the target: fail at the quota


BASE = {"api_url": "http://127.0.0.1:9", "username": "admin", "access_key": "k"}


def test_numeric_settings_given_as_strings_are_read_as_numbers_by_both(sandbox):
    # environment variables are strings: Meltano passes a `kind: string` setting on as "30"
    given = {"request_timeout": "30", "backoff_base": "0.5", "max_retries": " 2 ",
             "api_budget_percent": "99.5", "api_url": sandbox.url,
             "username": sandbox.username, "access_key": sandbox.access_key}
    for connector in (TapVtiger, TargetVtiger):
        config = connector(config=given).config
        assert config["request_timeout"] == 30
        assert config["backoff_base"] == 0.5
        assert config["max_retries"] == 2
        assert config["api_budget_percent"] == 99.5


def test_a_numeric_string_is_never_taken_for_an_integer_setting_when_it_has_a_fraction():
    schema = {"properties": {"max_retries": {"type": ["integer", "null"]},
                             "request_timeout": {"type": ["number", "null"]}}}
    assert numbers_from_strings({"max_retries": "2.5", "request_timeout": "2.5"}, schema) == {
        "request_timeout": 2.5}


def test_a_setting_that_is_not_a_number_gets_one_line_naming_it():
    for connector in (TapVtiger, TargetVtiger):
        for bad in ("soon", "nan", "inf", ""):
            with pytest.raises(ConfigError) as err:
                connector(config={**BASE, "request_timeout": bad})
            assert "request_timeout" in str(err.value)
            assert "\n" not in str(err.value)
