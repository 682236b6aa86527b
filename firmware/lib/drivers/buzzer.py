# Piezo buzzer tones on a PWM pin. The tone table (doorlogic.tones) is plain data so the
# web simulator's virtual buzzer plays exactly the same sequences.
try:
    from micropython import const
except ImportError:
    const = lambda x: x

try:
    from time import sleep_ms as _sleep_ms
except ImportError:

    def _sleep_ms(ms):
        pass


from doorlogic.tones import TONES  # noqa: F401 (drivers.buzzer.TONES stays)

DUTY_ON = const(32768)  # 50 % square wave: loudest for a piezo


class Buzzer:
    def __init__(self, pwm, sleep_ms=None, duty_u16=DUTY_ON):
        self._pwm = pwm
        self._sleep_ms = sleep_ms or _sleep_ms
        self._duty = duty_u16
        pwm.duty_u16(0)

    def play(self, seq):
        """Blocking: plays (freq, ms) pairs, silent afterwards."""
        pwm = self._pwm
        for freq, ms in seq:
            if freq:
                pwm.freq(freq)
                pwm.duty_u16(self._duty)
            else:
                pwm.duty_u16(0)  # silence via duty: freq(0) is invalid on the ESP32
            self._sleep_ms(ms)
        pwm.duty_u16(0)

    def tone(self, name):
        self.play(TONES[name])

    def startup(self):
        self.play(TONES["startup"])

    def key(self):
        self.play(TONES["key"])

    def success(self):
        self.play(TONES["success"])

    def error(self):
        self.play(TONES["error"])

    def action(self):
        self.play(TONES["action"])

    def off(self):
        self._pwm.duty_u16(0)
