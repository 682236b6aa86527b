# Every 16x2 text the door shows, in one place. Each function returns (line0, line1);
# fit() truncates so no line can exceed the LCD width. Runs on CPython and MicroPython.
from doorlogic import const

_WIDTH = const(16)


def _s(a, b=""):
    """Two lines, each cut to the LCD's width."""
    return (str(a)[:_WIDTH], str(b)[:_WIDTH])


def _wait(seconds):
    if seconds is None:
        return "Try again later"
    return "Wait " + str(int(seconds)) + "s"


# --- boot (main.py) ---------------------------------------------------------------------
def booting():
    return _s("Smart Door", "Starting...")


def config_error(msg, offset=0):
    """A config.py error, scrolled: line 1 shows msg from offset (wrapping with a gap), so
    a message of any length can be read on a 16 character line."""
    text = msg + "   "
    offset %= len(text)
    return ("Config error", (text[offset:] + text[:offset])[:_WIDTH])


# --- the door flow ----------------------------------------------------------------------
def ready(note=None):
    return _s("Press # or *", note or "#=Lock *=Unlock")


def person(typed):
    """After * or #: the person's keypad number (not a secret: the mailed code is), or
    nothing, for the door's shared codes."""
    return _s("Your number:", typed + "  #=OK" if typed else "none? press #")


def sending(action):
    return _s("Sending OTP...", "to " + action)


def sent(partial=False):
    if partial:
        return _s("OTP Sent!", "Some mail failed")
    return _s("OTP Sent!", "Check Email")


def entry(action, typed, digits):
    head = "Unlock code:" if action == "unlock" else "Lock code:"
    digits = max(digits, typed)
    return _s(head, "*" * typed + "_" * (digits - typed))


def verifying():
    return _s("Verifying...", "Please wait")


def done(action, note=None):
    """A lock or unlock done; note: how ("(offline)", "(remote)"), else a greeting."""
    if action == "unlock":
        return _s("Door Unlocked", note or "Welcome")
    return _s("Door Locked", note or "Goodbye")


def offline_entry(typed, digits=6):
    return _s("Offline code:", "*" * typed + "_" * (digits - typed))


def exit_button():
    return _s("Door Unlocked", "Exit button")


def offline_wait(seconds):
    return _s("Offline: locked", _wait(seconds))


def offline_unavailable(why):
    return _s("No server", why)


def offline_wrong(seconds):
    return _s("Wrong code", _wait(seconds) if seconds else "Try again")


# --- failures -----------------------------------------------------------------------------
def wifi_down():
    return _s("WiFi down", "Check network")


def unreachable():
    return _s("No server", "Try again later")


def send_failed(msg=""):
    return _s("Send failed", msg or "Try again later")


def wrong_code(attempts_left):
    if attempts_left is None:
        return _s("Wrong code", "Try again")
    if attempts_left <= 0:
        return _s("Wrong code", "Request new code")
    if attempts_left == 1:
        return _s("Wrong code", "1 try left")
    return _s("Wrong code", str(attempts_left) + " tries left")


def not_allowed():
    # the same words whatever the backend's reason: a refusal says nothing about anyone
    return _s("Not allowed now", "Ask an admin")


def number_needed():
    return _s("Number needed", "Type it, then #")


def expired():
    return _s("Code expired", "Request new code")


def locked_out(retry_after):
    if retry_after is None:
        return _s("Locked out", "Ask admin")
    return _s("Locked out", _wait(retry_after))


def rate_limited(retry_after):
    return _s("Too many tries", _wait(retry_after))


def bad_signature():
    return _s("Server untrusted", "Door not moved")


def server_busy():
    return _s("Server busy", "Try again later")


def server_error(msg):
    return _s("Server error", msg)


def servo_fault(msg=""):
    return _s("Servo fault", msg or "Check the lock")


def bad_reply():
    return _s("Bad reply", "Door not moved")


# --- network diagnostics (key A) ----------------------------------------------------------
def diag_net(ip, rssi):
    line1 = "RSSI ?" if rssi is None else "RSSI " + str(rssi) + " dBm"
    ip = ip or "no IP"
    return _s("IP " + ip if len(ip) <= _WIDTH - 3 else ip, line1)


def diag_server(gateway, server, codes=None):
    gw = gateway or "?"
    line0 = "GW " + gw if len(gw) <= _WIDTH - 3 else gw
    if server is None:
        line1 = "Server: check.."
    elif server:
        line1 = "OK, offline: " + str(codes) if codes else "Server OK"
    else:
        line1 = "Server down"
    return _s(line0, line1)
