# heap_probe.py for the door's life: boot, the running door, the modules it loads only for
# one call, the peak (see there); run with --steps.
MODE = "door"
exec(open("/tests/heap_probe.py").read())
