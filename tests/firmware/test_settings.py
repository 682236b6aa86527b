# config.py checks: every problem reported in full, the example values refused.
import secrets
import types

import pytest

from doorlogic import settings


def good(**extra):
    values = dict(
        WIFI_SSID="home",
        WIFI_PASSWORD="pw",
        BACKEND_URL="http://192.168.1.10:8000",
        DOOR_ID="front",
        DOOR_SECRET=secrets.token_hex(32),
    )
    values.update(extra)
    return types.SimpleNamespace(**values)


def test_a_good_config_passes_with_defaults():
    cfg, errors = settings.check(good())
    assert errors == []
    assert cfg["SAFE_STATE"] == "locked" and cfg["SERVO_RELEASE_MS"] == 700 and cfg["HEARTBEAT_SECONDS"] == 30
    assert cfg["DOOR_SENSOR_PIN"] is None and cfg["LCD_ADDR"] is None and cfg["DEBUG"] is False


@pytest.mark.parametrize(
    "secret",
    [
        "0" * 64,  # the example's
        "f" * 64,
        "0123456789abcdef" * 4,
        "ab" * 32,
        "xyz" + "0" * 61,
        "00" * 31,
        None,
    ],
)
def test_placeholder_or_malformed_secrets_are_refused(secret):
    _cfg, errors = settings.check(good(DOOR_SECRET=secret))
    assert len(errors) == 1 and errors[0].startswith("DOOR_SECRET ")


def test_every_error_is_reported_in_full():
    _cfg, errors = settings.check(
        types.SimpleNamespace(
            WIFI_SSID="your-wifi",
            WIFI_PASSWORD="your-password",
            BACKEND_URL="http://localhost:8000",
            DOOR_SECRET="0" * 64,
            SAFE_STATE="open",
            LOCK_ANGLE=200,
            HEARTBEAT_SECONDS=5,
            EXIT_BUTTON_PIN="12",
        )
    )
    joined = "\n".join(errors)
    for part in (
        "DOOR_ID is missing",
        "WIFI_SSID still has the example value",
        "WIFI_PASSWORD still has the example value",
        "BACKEND_URL must be the backend's LAN address: localhost is the door itself",
        "DOOR_SECRET is a placeholder (the example's zeros or a pattern): use the door's real secret",
        "SAFE_STATE must be locked, unlocked or last",
        "LOCK_ANGLE must be 0..180 degrees",
        "HEARTBEAT_SECONDS must be 30..86400",
        "EXIT_BUTTON_PIN must be a GPIO number or None",
    ):
        assert part in joined, part
    assert any(len(e) > 16 for e in errors)  # not cut to the LCD's width


def test_missing_or_broken_config_py():
    assert settings.check(None)[1] == ["config.py is missing: copy config.example.py to config.py and fill it in"]
    err = settings.check(SyntaxError("invalid syntax (config.py, line 3)"))[1]
    assert err == ["config.py: SyntaxError: invalid syntax (config.py, line 3)"]


def test_the_example_config_is_refused_as_it_is():
    import pathlib

    example = pathlib.Path(__file__).resolve().parents[2] / "firmware" / "config.example.py"
    namespace = {}
    exec(compile(example.read_text(), str(example), "exec"), namespace)
    _cfg, errors = settings.check(types.SimpleNamespace(**{k: v for k, v in namespace.items() if k.isupper()}))
    assert any(e.startswith("DOOR_SECRET") for e in errors) and any(e.startswith("WIFI_SSID") for e in errors)
