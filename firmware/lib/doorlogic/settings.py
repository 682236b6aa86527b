# What the door works out once at boot, then unloads (its RAM goes back to the heap):
# config.py checked before the door starts, every problem reported in full (printed, and
# scrolled on the LCD), the example values refused (a door with the example secret would be
# anyone's door); and the cause of the last reset, for the boot report.
from doorlogic import const

DEFAULTS = {
    "KEYPAD_ROWS": (14, 27, 26, 25),
    "KEYPAD_COLS": (33, 32, 18, 19),
    "I2C_SDA": 21,
    "I2C_SCL": 22,
    "I2C_FREQ": 100000,
    "LCD_ADDR": None,  # None: probe 0x27, then 0x3F
    "SERVO_PIN": 23,
    "BUZZER_PIN": 13,
    "LOCK_ANGLE": 90,
    "UNLOCK_ANGLE": 0,
    "SERVO_RELEASE_MS": 700,
    "SAFE_STATE": "locked",
    "HEARTBEAT_SECONDS": 30,
    "AUTO_RELOCK_SECONDS": 0,
    "DOOR_SENSOR_PIN": None,
    "DOOR_OPEN_LEVEL": 1,  # the reed switch input reads this while the door stands open
    "EXIT_BUTTON_PIN": None,
    "STATUS_LED_PIN": None,
    "NTP_HOST": "pool.ntp.org",
    "WATCHDOG_MS": 30000,
    "DEBUG": False,
}
REQUIRED = ("WIFI_SSID", "WIFI_PASSWORD", "BACKEND_URL", "DOOR_ID", "DOOR_SECRET")
EXAMPLES = {"WIFI_SSID": "your-wifi", "WIFI_PASSWORD": "your-password"}
_HEX = const("0123456789abcdef")


def check(module):
    """-> (settings dict, list of error strings). module: the imported config (or None)."""
    if module is None:
        return {}, ["config.py is missing: copy config.example.py to config.py and fill it in"]
    if isinstance(module, Exception):  # config.py did not import (a syntax error ...)
        return {}, ["config.py: " + type(module).__name__ + ": " + str(module)]
    cfg = dict(DEFAULTS)
    errors = []
    for name in list(DEFAULTS) + list(REQUIRED):
        if hasattr(module, name):
            cfg[name] = getattr(module, name)
        elif name in REQUIRED:
            errors.append(name + " is missing")
    for name in EXAMPLES:  # the example's DOOR_SECRET (zeros) is refused by secret_problem
        if cfg.get(name) == EXAMPLES[name]:
            errors.append(name + " still has the example value")
    for name in ("WIFI_SSID", "DOOR_ID"):
        v = cfg.get(name)
        if name in cfg and (not isinstance(v, str) or not v):
            errors.append(name + " must be a non-empty string")
    url = cfg.get("BACKEND_URL")
    if isinstance(url, str) and not (url.startswith("http://") or url.startswith("https://")):
        errors.append("BACKEND_URL must start with http:// or https://")
    elif isinstance(url, str) and ("://localhost" in url or "://127." in url):
        errors.append("BACKEND_URL must be the backend's LAN address: localhost is the door itself")
    why = secret_problem(cfg.get("DOOR_SECRET"))
    if why and "DOOR_SECRET" in cfg:
        errors.append("DOOR_SECRET " + why)
    if cfg["SAFE_STATE"] not in ("locked", "unlocked", "last"):
        errors.append("SAFE_STATE must be locked, unlocked or last")
    for name in ("LOCK_ANGLE", "UNLOCK_ANGLE"):
        if not _int_in(cfg[name], 0, 180):
            errors.append(name + " must be 0..180 degrees")
    for name, low, high in (
        ("SERVO_RELEASE_MS", 0, 10000),
        ("HEARTBEAT_SECONDS", 30, 86400),
        ("AUTO_RELOCK_SECONDS", 0, 86400),
        ("WATCHDOG_MS", 5000, 120000),
    ):
        if not _int_in(cfg[name], low, high):
            errors.append(name + " must be " + str(low) + ".." + str(high))
    for name in ("DOOR_SENSOR_PIN", "EXIT_BUTTON_PIN", "STATUS_LED_PIN", "SERVO_PIN", "BUZZER_PIN"):
        v = cfg[name]
        if v is not None and not _int_in(v, 0, 48):
            errors.append(name + " must be a GPIO number or None")
    return cfg, errors


def _int_in(v, low, high):
    return isinstance(v, int) and not isinstance(v, bool) and low <= v <= high


def secret_problem(s):
    """Why s is no usable door secret (None when it is): 64 hex characters from
    `smartdoor door add`, and not a placeholder (one repeated byte, a counting pattern)."""
    if not isinstance(s, str) or len(s) != 64:
        return "must be the 64 hex characters `smartdoor door add` printed"
    s = s.lower()
    for ch in s:
        if ch not in _HEX:
            return "must be hex (0-9, a-f)"
    if len(set(s)) < 8 or s in (_HEX * 4, "fedcba9876543210" * 4):  # (MicroPython's str has no [::-1])
        return "is a placeholder (the example's zeros or a pattern): use the door's real secret"
    return None


def reset_cause(machine):
    """Why the board last reset, as the boot report names it (None when the port cannot tell)."""
    try:
        cause = machine.reset_cause()
    except Exception:
        return None
    for attr, name in (
        ("PWRON_RESET", "power_on"),
        ("HARD_RESET", "hard"),
        ("WDT_RESET", "watchdog"),
        ("DEEPSLEEP_RESET", "deepsleep"),
        ("SOFT_RESET", "soft"),
    ):
        if getattr(machine, attr, None) == cause:
            return name
    return str(cause)
