# Run by micropython_runner.mjs --steps (and imported by the CPython test): request
# cycles (code request, typed code, verify, state report, flash write) through the
# firmware's own state machine, client and vault against the signing fake backend. The heap
# is read at the start of each step, after the runner's top-level gc.collect() (the only
# one that reclaims memory in the WebAssembly port). A firmware that keeps something per
# request (a list that grows, a cache without a bound) shows here as a rising heap.
#   SOAK_SAMPLE <cycles done> <bytes in use>      then SOAK_CYCLES <n>
import gc

from test_statemachine_mp import Rig

CYCLES = globals().get("SOAK_CYCLES", 10000)
PER_STEP = 500
WARMUP = 100


def forget_history(r):
    # the test fakes record everything they see; the firmware must not
    r.server.requests = []
    r.server.timeouts = []
    r.server.nonces = {}
    r.display.history = []
    r.buzzer.calls = []
    r.servo.calls = []
    r.slept = []


def cycle(r, i):
    r.press("*#" if i % 2 == 0 else "##")  # no person number: the shared codes
    r.run(2100, step=700)
    r.press("123456")
    r.run(3100, step=1100)
    assert r.machine.state == "ready", r.text()
    assert r.machine.door == ("unlocked", "locked")[i % 2], (i, r.machine.door)
    forget_history(r)


_soak = {"rig": None, "done": 0}


def step():
    s = _soak
    if s["rig"] is None:
        s["rig"] = Rig(heartbeat_s=60)
        n = WARMUP
    else:
        print("SOAK_SAMPLE " + str(s["done"]) + " " + str(gc.mem_alloc()))
        if s["done"] >= CYCLES:
            print("SOAK_CYCLES " + str(s["done"]))
            return False
        n = min(PER_STEP, CYCLES - s["done"])
    for _ in range(n):
        cycle(s["rig"], s["done"])
        s["done"] += 1
    return True
