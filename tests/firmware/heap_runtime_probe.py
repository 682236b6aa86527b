# heap_probe.py for what the running door keeps (see there); run with --steps.
MODE = "runtime"
exec(open("/tests/heap_probe.py").read())
