# config.py checks on real MicroPython too (plain asserts: micropython_runner.mjs runs this
# file; test_settings.py covers every rule on CPython). A check that raised on the board
# would reset it before the door ever ran.
from doorlogic import settings

SECRET = "8f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8"


class Config:
    WIFI_SSID = "home"
    WIFI_PASSWORD = "pw"
    BACKEND_URL = "http://192.168.1.10:8000"
    DOOR_ID = "front"
    DOOR_SECRET = SECRET


def test_a_good_config_passes():
    cfg, errors = settings.check(Config)
    assert errors == [], errors
    assert cfg["DOOR_SECRET"] == SECRET and cfg["SAFE_STATE"] == "locked"


def test_placeholder_secrets_are_refused():
    for secret in ("0" * 64, "0123456789abcdef" * 4, "fedcba9876543210" * 4, "ab" * 32, "xyz" + "0" * 61):
        assert settings.secret_problem(secret) is not None, secret
    assert settings.secret_problem(SECRET) is None


def test_reset_cause_is_named():
    class Machine:
        WDT_RESET = 3
        PWRON_RESET = 1

        @staticmethod
        def reset_cause():
            return 3

    assert settings.reset_cause(Machine) == "watchdog"
    assert settings.reset_cause(object()) is None
