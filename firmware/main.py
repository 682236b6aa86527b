# Smart Door entry point (ESP32, MicroPython). Everything lives in lib/: board.py wires the
# parts and runs the asyncio tasks, doorlogic/ holds the behaviour. This file only catches
# what nothing else did: a network error never gets here (the tasks handle those); a bug
# does, and the board then starts again, which puts the servo in SAFE_STATE.
import sys
import time

import machine
import network

try:
    import config
except ImportError:
    config = None
except Exception as e:  # a syntax error in config.py is shown like any config error
    config = e

try:
    import board

    board.main(machine, network, config)
except Exception as e:
    sys.print_exception(e)
    time.sleep_ms(3000)
    machine.reset()
