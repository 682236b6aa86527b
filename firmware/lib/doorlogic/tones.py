# Buzzer tone table: name -> ((freq_hz, duration_ms), ...); freq 0 = silence. Plain data
# shared by drivers.buzzer and the web simulator.
TONES = {
    "startup": ((1200, 100), (0, 30), (1500, 100), (0, 30), (1800, 150)),
    "key": ((800, 50),),
    "success": ((1000, 200),),
    "error": ((300, 500),),
    "action": ((1000, 100), (0, 100), (1000, 100), (0, 100), (1000, 100)),
}
