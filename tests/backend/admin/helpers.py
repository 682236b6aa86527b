"""Driving the admin app in-process like a browser does: cookies kept, the CSRF token read
from each page, forms posted as application/x-www-form-urlencoded."""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import urlencode

import httpx

from smartdoor.admin import passwords, setup_links
from smartdoor.people.service import add_person

PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'<meta name="csrf" content="([0-9a-f]+)">')
LOGIN_CODE = re.compile(r"Login code: (\d+)")


def csrf_of(response: httpx.Response) -> str:
    found = CSRF.search(response.text)
    assert found, f"no CSRF token on {response.request.url}: {response.status_code} {response.text[:300]}"
    return found.group(1)


async def add_login_person(db, *, name: str, email: str, role: str = "admin", now: datetime, password=PASSWORD):
    person = await add_person(db, name=name, email=email, role=role, now=now)
    hashed = await passwords.hash_password(password)
    await db.people.update_one({"_id": person["_id"]}, {"$set": {"password_hash": hashed}})
    return person


class Browser:
    """One browser: its own cookies, on the app's ASGI transport."""

    def __init__(self, harness, *, base_url: str = "http://door.test", client=("192.0.2.7", 50000)) -> None:
        self.harness = harness
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=harness.app, client=client), base_url=base_url, follow_redirects=False
        )
        self.csrf = ""

    async def close(self) -> None:
        await self.http.aclose()

    async def get(self, url: str, **kw) -> httpx.Response:
        response = await self.http.get(url, **kw)
        found = CSRF.search(response.text) if response.headers.get("content-type", "").startswith("text/html") else None
        if found:
            self.csrf = found.group(1)
        return response

    async def post(self, url: str, data: dict | list | None = None, *, csrf: bool = True, **kw) -> httpx.Response:
        fields = list(data.items()) if isinstance(data, dict) else list(data or [])
        if csrf:
            fields.append(("csrf", self.csrf))
        headers = {"Content-Type": "application/x-www-form-urlencoded", **kw.pop("headers", {})}
        return await self.http.post(url, content=urlencode(fields), headers=headers, **kw)

    async def post_json(self, url: str, body: dict | None = None, **kw) -> httpx.Response:
        headers = {"X-CSRF-Token": self.csrf, "Accept": "application/json", **kw.pop("headers", {})}
        return await self.http.post(url, json=body or {}, headers=headers, **kw)

    async def password_step(self, email: str, password: str = PASSWORD) -> httpx.Response:
        await self.get("/admin/login")
        return await self.post("/admin/login", {"email": email, "password": password, "next": "/admin"})

    async def login(self, email: str, password: str = PASSWORD) -> httpx.Response:
        """Password, then the e-mailed code read from the SMTP sink."""
        response = await self.password_step(email, password)
        assert response.status_code == 303, response.text[:500]
        await self.get("/admin/login/verify")
        mails_before = len(self.harness.sink.messages())
        sent = await self.post("/admin/login/email")
        assert sent.status_code == 303, sent.text[:500]
        mail = self.harness.sink.wait_for(mails_before + 1)[0]
        code = LOGIN_CODE.search(mail["text"]).group(1)
        await self.get("/admin/login/verify")
        done = await self.post("/admin/login/code", {"code": code})
        assert done.status_code == 303, done.text[:500]
        await self.get(done.headers["location"])
        return done


async def setup_link_for(db, person_id: str, now: datetime) -> str:
    return await setup_links.create_link(db, person_id=person_id, by="test", now=now)
