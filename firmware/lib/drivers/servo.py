# Hobby servo on a 50 Hz PWM: 500-2400 us pulse = 0-180 degrees. After each move the pulses
# stop (release) once the horn has had time to get there: a servo held against a stalled
# bolt draws 0.3-0.7 A, hums, heats and can brown out the 5 V rail. The release is not a
# sleep: tick(now_ms) is called from the loop and does it when the time has come.
# Takes a machine.PWM-like object; prefers duty_ns (exact) and falls back to duty_u16.
from doorlogic import const
from doorlogic.ticks import Timer

_FREQ_HZ = const(50)
_MIN_US = const(500)
_MAX_US = const(2400)
_LOCK_ANGLE = const(90)
_UNLOCK_ANGLE = const(0)
_RELEASE_MS = const(700)
_PERIOD_US = const(20000)  # 1 s / _FREQ_HZ


class Servo:
    def __init__(self, pwm, lock_angle=_LOCK_ANGLE, unlock_angle=_UNLOCK_ANGLE, release_ms=_RELEASE_MS):
        self._pwm = pwm
        self._ns = hasattr(pwm, "duty_ns")
        self.lock_angle = lock_angle
        self.unlock_angle = unlock_angle
        self.release_ms = release_ms
        self.angle = None  # unknown until the first move
        self.powered = False  # pulses are going out
        self._release = Timer()
        self._moved = False  # moved since the last tick: the release timer starts there
        pwm.freq(_FREQ_HZ)
        self._duty(0)

    def pulse_us(self, angle):
        angle = min(max(int(angle), 0), 180)
        return _MIN_US + ((_MAX_US - _MIN_US) * angle + 90) // 180

    def _duty(self, us):
        if self._ns:
            self._pwm.duty_ns(us * 1000)
        else:
            self._pwm.duty_u16((65535 * us + _PERIOD_US // 2) // _PERIOD_US)

    def move(self, angle):
        angle = min(max(int(angle), 0), 180)
        self._duty(self.pulse_us(angle))
        self.angle = angle
        self.powered = True
        self._moved = True

    def lock(self):
        self.move(self.lock_angle)

    def unlock(self):
        self.move(self.unlock_angle)

    def tick(self, now_ms):
        """Call every loop pass: releases release_ms after the last move (never when
        release_ms is 0 or None: a servo that must hold against a spring)."""
        if self._moved:
            self._moved = False
            if self.release_ms:
                self._release.start(now_ms, self.release_ms)
        if self._release.due(now_ms):
            self._release.stop()
            self.release()

    def release(self):
        """Stop the pulses (the servo goes limp, no hum); angle is kept as last set."""
        self._duty(0)
        self.powered = False
