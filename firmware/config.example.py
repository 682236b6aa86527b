# Copy to config.py (which git ignores) and fill in. The door refuses to run with the
# example values (they are shown in full on the LCD and printed on the serial console).
# Pins are the original Arduino sketch's wiring (docs/architecture.md, section 7).

WIFI_SSID = "your-wifi"
WIFI_PASSWORD = "your-password"

# The backend as the board reaches it: the machine's LAN address, never localhost. Give an
# IP address: a host name is looked up with a call that blocks the board while it runs.
# https:// works too (recommended); a path prefix (http://host/door) is allowed.
BACKEND_URL = "http://192.168.1.10:8000"

# From `smartdoor door add`: the door id and its secret, 64 lowercase hex characters
# (shown once). Anyone holding the secret can act as this door.
DOOR_ID = "front-door"
DOOR_SECRET = "0000000000000000000000000000000000000000000000000000000000000000"

# 4x4 keypad: rows are open-drain outputs, columns inputs with pull-ups; keys 123A/456B/789C/*0#D
KEYPAD_ROWS = (14, 27, 26, 25)
KEYPAD_COLS = (33, 32, 18, 19)

# 16x2 HD44780 LCD behind a PCF8574 I2C backpack; None probes 0x27, then 0x3F
I2C_SDA = 21
I2C_SCL = 22
I2C_FREQ = 100000
LCD_ADDR = None

# Servo: 50 Hz, 500-2400 us. Its pulses stop SERVO_RELEASE_MS after each move (0: never,
# for a lock that must be held against a spring).
SERVO_PIN = 23
LOCK_ANGLE = 90
UNLOCK_ANGLE = 0
SERVO_RELEASE_MS = 700
BUZZER_PIN = 13

# Where the servo goes at boot: "locked" (fail-secure), "unlocked" (fail-safe, e.g. a fire
# exit) or "last" (the last commanded state, kept in flash)
SAFE_STATE = "locked"
# State report with uptime, RSSI and free heap; its reply is also how a remote lock/unlock
# reaches the door (every 5 s for 2 minutes after one came). 30..86400
HEARTBEAT_SECONDS = 30
AUTO_RELOCK_SECONDS = 0  # lock again this long after an unlock; 0 = off

# Optional inputs and outputs: None = not fitted
DOOR_SENSOR_PIN = None  # reed switch to GND (pull-up inside): the door's open/closed state
DOOR_OPEN_LEVEL = 1  # what the reed pin reads while the door stands open
EXIT_BUTTON_PIN = None  # push button to GND inside: unlocks without a code
STATUS_LED_PIN = None  # on while unlocked

NTP_HOST = "pool.ntp.org"  # None: time only from the backend's signed replies
WATCHDOG_MS = 30000  # a task hung this long resets the board (into SAFE_STATE)
DEBUG = False  # True: Ctrl-C on the USB serial stops the door (and no watchdog)
