# Copy to config.py (which git ignores) and fill in. main.py refuses to run without it.
# Pins are the seed's wiring (ARCHITECTURE.md section 6).

WIFI_SSID = "your-wifi"
WIFI_PASSWORD = "your-password"

# The backend as the board reaches it: the machine's LAN address, never localhost.
# https:// works too (recommended); a path prefix (http://host/door) is allowed.
BACKEND_URL = "http://192.168.1.10:8000"

# From `smartdoor door add`: the door id and its secret, 64 lowercase hex characters
# (shown once). Anyone holding the secret can act as this door.
DOOR_ID = "front-door"
DOOR_SECRET = "0000000000000000000000000000000000000000000000000000000000000000"

# 4x4 keypad: rows are outputs, columns inputs with pull-ups; keys 123A/456B/789C/*0#D
KEYPAD_ROWS = (14, 27, 26, 25)
KEYPAD_COLS = (33, 32, 18, 19)

# 16x2 HD44780 LCD behind a PCF8574 I2C backpack
I2C_SDA = 21
I2C_SCL = 22
I2C_FREQ = 100000
LCD_ADDR = 0x27

SERVO_PIN = 23  # 50 Hz, 500-2400 us, lock 90 deg, unlock 0 deg
BUZZER_PIN = 13

# Optional
HTTP_TIMEOUT_S = 10  # per request
WIFI_TIMEOUT_MS = 15000  # per connection attempt
NTP_HOST = "pool.ntp.org"  # None: take the time from the backend only
