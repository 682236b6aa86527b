# One SNTP query (RFC 4330) over a non-blocking UDP socket, awaiting the reply instead of
# blocking the board like ntptime.settime() does. -> Unix seconds, or OSError.
import asyncio

from doorlogic import const

_NTP_TO_UNIX = const(2208988800)


async def query(host, timeout_ms=2000, port=123):
    import socket

    addr = socket.getaddrinfo(host, port)[0][-1]  # a blocking lookup, once per connection
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setblocking(False)
    try:
        q = bytearray(48)
        q[0] = 0x1B  # version 3, client
        s.sendto(q, addr)
        waited = 0
        while True:
            try:
                data = s.recv(48)
                break
            except OSError:  # EAGAIN: nothing yet
                if waited >= timeout_ms:
                    raise OSError(110, "ntp timeout")
                await asyncio.sleep(0.05)
                waited += 50
        if len(data) < 48:
            raise OSError(5, "short ntp reply")
        t = int.from_bytes(data[40:44], "big") - _NTP_TO_UNIX
        if t <= 0:
            raise OSError(5, "bad ntp time")
        return t
    finally:
        s.close()
