# What the board does once at power-on, before the door runs (board.main), then unloads:
# config.py checked (doorlogic.settings; every problem printed in full and scrolled on the
# LCD until someone fixes it), the LCD found, a window for mpremote after a reset, Ctrl-C
# on the USB serial disabled, the watchdog started.
import time

from board import sleep_ms

from doorlogic import forget, screens
from drivers.lcd import ADDRESSES, SafeDisplay

BOOT_WINDOW_MS = 3000  # after a reset, Ctrl-C still works this long: mpremote gets in to update


def prepare(machine, config):
    """-> (the settings, the display, the watchdog or None, the config errors)."""
    import micropython

    from doorlogic import settings

    cfg, errors = settings.check(config)
    c = dict(settings.DEFAULTS)
    c.update(cfg)
    del settings
    forget("doorlogic.settings")  # needed once: its RAM goes back to the heap
    debug = c["DEBUG"] is True
    i2c = machine.I2C(0, sda=machine.Pin(c["I2C_SDA"]), scl=machine.Pin(c["I2C_SCL"]), freq=c["I2C_FREQ"])
    display = SafeDisplay(i2c, ADDRESSES if c["LCD_ADDR"] is None else (c["LCD_ADDR"],))
    display.show(*screens.booting())
    if not debug:
        if BOOT_WINDOW_MS:  # a deliberate update: reset, then mpremote interrupts in this window
            time.sleep_ms(BOOT_WINDOW_MS)
        micropython.kbd_intr(-1)  # from now on a stray Ctrl-C on the USB serial cannot stop the door
    wdt = None if debug else machine.WDT(timeout=c["WATCHDOG_MS"])
    return cfg, display, wdt, errors


async def show_config_errors(display, errors, wdt=None, log=print, rounds=None, step_ms=400):
    """The door cannot run: print every error in full and scroll each on the LCD."""
    for e in errors:
        log("config:", e)
    n = 0
    while rounds is None or n < rounds:
        n += 1
        for e in errors:
            for offset in range(len(e) + 3):
                display.show(*screens.config_error(e, offset))
                if wdt is not None:
                    wdt.feed()
                await sleep_ms(step_ms)
