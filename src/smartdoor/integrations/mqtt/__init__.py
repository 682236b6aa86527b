"""Home Assistant over MQTT: discovery, state, availability and lock commands (see bridge.py)."""
