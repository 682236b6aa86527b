"""A backend process whose code comparisons are counted: the real app, with
smartdoor.otp.codes.matches wrapped to append one line per comparison ("1" right, "0"
wrong) to the file named by COMPARISONS_FILE. Run by the tests as
`python -m uvicorn --factory tests.backend.otp.counting_app:make_app`."""

from __future__ import annotations

import os

from smartdoor.main import create_app
from smartdoor.otp import codes
from smartdoor.settings import Settings


def count_comparisons(path: str) -> None:
    real = codes.matches

    def counted(*args, **kwargs) -> bool:
        result = real(*args, **kwargs)
        # O_APPEND: lines from several processes never interleave
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, b"1\n" if result else b"0\n")
        finally:
            os.close(fd)
        return result

    codes.matches = counted


def make_app():
    count_comparisons(os.environ["COMPARISONS_FILE"])
    return create_app(Settings())
