"""The simulated door: the firmware's own state machine (doorlogic, imported from
firmware/lib, never copied) with virtual hardware, talking to a backend over real HTTP with
real signatures. Used by the demo's web page (smartdoor.web) and by `smartdoor simulate`
(a terminal door).

  hardware.py   virtual LCD, servo and buzzer (thread-safe snapshots)
  transport.py  the device's HTTP transport on CPython
  device.py     SimulatedDevice (machine + virtual parts) and DeviceThread (runs it)
  terminal.py   `smartdoor simulate`
"""
