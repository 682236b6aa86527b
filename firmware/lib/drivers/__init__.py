# Hardware drivers for the Smart Door board. Each driver receives its Pin / I2C / PWM /
# WLAN objects (built in main.py from config) and never imports machine, so the same code
# runs on the ESP32, on CPython under pytest with fakes, and in the web simulator.
