# A small HTTP/1.0 client over asyncio streams, for the door's few signed calls. The frozen
# `requests` blocks the whole board for up to its timeout per socket step; this one yields
# to the other tasks (keypad, LCD, tones, watchdog) at every step, and one deadline bounds
# the whole call (connect, send, reply). Runs on MicroPython's asyncio and on CPython's.
# Note: the host name lookup (getaddrinfo) inside open_connection still blocks on
# MicroPython: give BACKEND_URL as an IP address on the LAN to avoid it.
import asyncio

from doorlogic import const

_MAX_BODY = const(16384)  # larger replies are refused (the protocol's biggest is far below)
_MAX_HEADERS = const(40)


async def request(method, url, headers, body, timeout_ms):
    """-> (status, headers with lower-case names, body bytes). Raises OSError for every
    failure (refused, reset, timed out, malformed reply), so the caller has one case."""
    try:
        return await asyncio.wait_for(_request(method, url, headers, body), timeout_ms / 1000)
    except asyncio.TimeoutError:
        raise OSError(110, "timed out")
    except (ValueError, EOFError, IndexError) as e:
        raise OSError(5, "bad reply: " + repr(e))


async def _request(method, url, headers, body):
    tls = url.startswith("https://")
    if not tls and not url.startswith("http://"):
        raise ValueError("not an http(s) URL")
    rest = url[8 if tls else 7 :]
    slash = rest.find("/")
    hostport, path = (rest, "/") if slash < 0 else (rest[:slash], rest[slash:])
    host, _, port = hostport.rpartition(":") if ":" in hostport else (hostport, "", "")
    r, w = await asyncio.open_connection(host, int(port) if port else (443 if tls else 80), ssl=True if tls else None)
    try:
        head = method + " " + path + " HTTP/1.0\r\nHost: " + host + "\r\nConnection: close\r\n"
        for k in headers:
            head += k + ": " + headers[k] + "\r\n"
        if body:
            head += "Content-Length: " + str(len(body)) + "\r\n"
        w.write(head.encode() + b"\r\n")
        if body:
            w.write(body)
        await w.drain()
        status = int((await r.readline()).split(None, 2)[1])
        rh = {}
        while True:
            line = await r.readline()
            if not line or line == b"\r\n" or line == b"\n":
                break
            k, _, v = line.decode().partition(":")
            rh[k.strip().lower()] = v.strip()
            if len(rh) > _MAX_HEADERS:
                raise ValueError("too many headers")
        n = rh.get("content-length")
        if n is not None:
            n = int(n)
            if n > _MAX_BODY:
                raise ValueError("reply too large")
            data = await r.readexactly(n) if n else b""
        else:
            data = b""
            while len(data) <= _MAX_BODY:
                chunk = await r.read(1024)
                if not chunk:
                    break
                data += chunk
        return status, rh, data
    finally:
        try:
            w.close()
            s = getattr(w, "s", None)  # MicroPython's Stream.close() leaves the socket open
            if s is not None:
                s.close()
        except Exception:
            pass
