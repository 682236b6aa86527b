# Hobby servo on a 50 Hz PWM: 500-2400 us pulse = 0-180 degrees; lock 90, unlock 0.
# Takes a machine.PWM-like object; prefers duty_ns (exact) and falls back to duty_u16.
try:
    from micropython import const
except ImportError:
    const = lambda x: x

FREQ_HZ = const(50)
MIN_US = const(500)
MAX_US = const(2400)
LOCK_ANGLE = const(90)
UNLOCK_ANGLE = const(0)


class Servo:
    def __init__(
        self, pwm, min_us=MIN_US, max_us=MAX_US, freq=FREQ_HZ, lock_angle=LOCK_ANGLE, unlock_angle=UNLOCK_ANGLE
    ):
        self._pwm = pwm
        self._min = min_us
        self._max = max_us
        self._period_us = 1000000 // freq
        self._ns = hasattr(pwm, "duty_ns")
        self.lock_angle = lock_angle
        self.unlock_angle = unlock_angle
        self.angle = None  # unknown until the first move
        pwm.freq(freq)

    def pulse_us(self, deg):
        deg = min(max(int(deg), 0), 180)
        return self._min + ((self._max - self._min) * deg + 90) // 180

    def move(self, deg):
        deg = min(max(int(deg), 0), 180)
        us = self.pulse_us(deg)
        if self._ns:
            self._pwm.duty_ns(us * 1000)
        else:
            p = self._period_us
            self._pwm.duty_u16((65535 * us + p // 2) // p)
        self.angle = deg

    def lock(self):
        self.move(self.lock_angle)

    def unlock(self):
        self.move(self.unlock_angle)

    def release(self):
        """Stop the pulses (servo goes limp, no jitter or hum); angle is kept as last set."""
        if self._ns:
            self._pwm.duty_ns(0)
        else:
            self._pwm.duty_u16(0)
