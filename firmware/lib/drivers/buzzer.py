# Piezo buzzer tones on a PWM pin, without blocking: play(name) starts a sequence and
# tick(now_ms), called every loop pass, steps through it, so the keypad and the network
# keep running while it sounds. The tone table (doorlogic.tones) is plain data, so the
# web simulator's virtual buzzer plays exactly the same sequences.
from doorlogic import const
from doorlogic.ticks import diff
from doorlogic.tones import TONES

_DUTY_ON = const(32768)  # 50 % square wave: loudest for a piezo


class Buzzer:
    def __init__(self, pwm, duty_u16=_DUTY_ON):
        self._pwm = pwm
        self._duty = duty_u16
        self._seq = ()
        self._i = 0
        self._at = None  # ticks when the current note started (None: at the next tick)
        pwm.duty_u16(0)

    @property
    def busy(self):
        return self._i < len(self._seq)

    def play(self, tones):
        """Starts tones, (freq, ms) pairs, now, replacing what was playing."""
        self._seq = tones
        self._i = 0
        self._at = None
        self._note()

    def _note(self):
        if self._i >= len(self._seq):
            self._pwm.duty_u16(0)
            return
        freq = self._seq[self._i][0]
        if freq:
            self._pwm.freq(freq)
            self._pwm.duty_u16(self._duty)
        else:
            self._pwm.duty_u16(0)  # silence via duty: freq(0) is invalid on the ESP32

    def tick(self, now_ms):
        while self._i < len(self._seq):
            if self._at is None:
                self._at = now_ms
            if diff(now_ms, self._at) < self._seq[self._i][1]:
                return
            self._at = now_ms
            self._i += 1
            self._note()

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
