"""What an administrator does on the pages: doors (state, lockout, secret, offline codes),
people, and the audit (filters, pages, export of exactly the filtered view, chart). Every
action lands in the audit with its actor and target, and no secret does."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta

from smartdoor.audit.service import record


async def test_dashboard_and_door_page_show_state_and_health(admin_app, ada):
    door = await admin_app.add_door("Front door")
    r = await door.post("/api/v1/state", {"state": "unlocked", "rssi": -61, "firmware": "1.4.2", "door_open": True,
                                          "event": "boot"})  # fmt: skip
    assert r.status_code == 200
    quiet = await admin_app.add_door("Shed")
    page = await ada.get("/admin")
    card = page.text.split(f'data-door="{door.door_id}"')[1].split("</a>")[0]
    assert "unlocked" in card and "door open" in card and "online" in card
    shed = page.text.split(f'data-door="{quiet.door_id}"')[1].split("</a>")[0]
    assert "offline" in shed and "unknown" in shed
    detail = await ada.get(f"/admin/doors/{door.door_id}")
    assert "1.4.2" in detail.text and "-61 dBm" in detail.text
    admin_app.clock.advance(12 * 60)  # two heartbeats missed
    assert "offline" in (await ada.get("/admin")).text.split(f'data-door="{door.door_id}"')[1].split("</a>")[0]


async def test_clear_lockout_rotate_secret_and_offline_enrolment(admin_app, ada):
    door = await admin_app.add_door("Front door")
    await admin_app.db.doors.update_one({"_id": door.door_id}, {"$set": {"failures": 100, "hard_locked": True}})
    page = await ada.get(f"/admin/doors/{door.door_id}")
    assert "Hard lockout" in page.text
    assert (await ada.post(f"/admin/doors/{door.door_id}/clear-lockout")).status_code == 303
    stored = await admin_app.db.doors.find_one({"_id": door.door_id})
    assert stored["failures"] == 0 and not stored["hard_locked"]

    shown = await ada.post(f"/admin/doors/{door.door_id}/rotate-secret")
    secret = re.search(r"data-secret>([0-9a-f]{64})<", shown.text).group(1)
    assert shown.headers["cache-control"] == "no-store"
    assert (await door.request_code(check_reply=False)).status_code == 401  # the old secret is dead
    door.key = bytes.fromhex(secret)
    assert (await door.request_code()).status_code == 200
    assert secret not in (await ada.get(f"/admin/doors/{door.door_id}")).text  # shown once

    enrolled = await ada.post(f"/admin/doors/{door.door_id}/offline", {"label": "Ada's phone"})
    assert enrolled.status_code == 200 and "<svg" in enrolled.text and "otpauth://totp/" in enrolled.text
    uri_secret = re.search(r"secret=([A-Z2-7]+)", enrolled.text).group(1)
    credential = (await admin_app.db.doors.find_one({"_id": door.door_id}))["offline_credentials"][0]
    assert uri_secret not in (await ada.get(f"/admin/doors/{door.door_id}")).text
    revoke = await ada.post(f"/admin/doors/{door.door_id}/offline/{credential['id']}/revoke")
    assert revoke.status_code == 303

    events = await admin_app.audit(actor=admin_app.ada["_id"])
    assert [e["event"] for e in events if e.get("door") == door.door_id] == [
        "lockout_cleared", "door_secret_rotated", "offline_enrolled", "offline_revoked"]  # fmt: skip
    dump = json.dumps(await admin_app.db.audit.find({}, {"_id": 0}).to_list(), default=str)
    assert secret not in dump and uri_secret not in dump


async def test_adding_a_door_shows_its_secret_once(admin_app, ada):
    await ada.get("/admin/doors/new")
    r = await ada.post("/admin/doors", {"name": "Garage", "recipients": "ada@example.com, max@example.com"})
    assert r.status_code == 200 and re.search(r"data-secret>[0-9a-f]{64}<", r.text)
    door = await admin_app.db.doors.find_one({"name": "Garage"})
    assert door["recipients"] == ["ada@example.com", "max@example.com"]
    bad = await ada.post("/admin/doors", {"name": "Bad\r\nBcc: x@example.com", "recipients": ""})
    assert bad.status_code == 422
    assert (await ada.post("/admin/doors", {"name": "Garage", "recipients": ""})).status_code == 409


async def test_people_add_edit_disable_enable_remove(admin_app, ada):
    await ada.get("/admin/people")
    r = await ada.post("/admin/people", {"name": "Gus", "email": "Gus@Example.com", "role": "guest", "keypad": "4711"})
    assert r.status_code == 303
    gus = await admin_app.db.people.find_one({"email": "gus@example.com"})
    assert gus["keypad"] == "4711" and gus["role"] == "guest"
    assert "Gus" in (await ada.get("/admin/people")).text
    await ada.get(f"/admin/people/{gus['_id']}")
    assert (await ada.post(f"/admin/people/{gus['_id']}", {"name": "Gustav", "role": "member"})).status_code == 303
    assert (await admin_app.db.people.find_one({"_id": gus["_id"]}))["name"] == "Gustav"
    clash = await ada.post(f"/admin/people/{gus['_id']}", {"keypad": admin_app.max["keypad"]})
    assert clash.status_code == 409
    assert (await ada.post(f"/admin/people/{gus['_id']}/disable")).status_code == 303
    assert not (await admin_app.db.people.find_one({"_id": gus["_id"]}))["active"]
    assert (await ada.post(f"/admin/people/{gus['_id']}/enable")).status_code == 303
    link = await ada.post(f"/admin/people/{gus['_id']}/setup-link")
    assert link.status_code == 200 and "http://door.test/admin/setup#" in link.text
    assert (await ada.post(f"/admin/people/{gus['_id']}/remove")).status_code == 303
    assert await admin_app.db.people.find_one({"_id": gus["_id"]}) is None
    events = [(e["event"], e.get("person")) for e in await admin_app.audit(actor=admin_app.ada["_id"])]
    assert [e for e, p in events if p == gus["_id"]] == [
        "person_added",
        "person_updated",
        "person_disabled",
        "person_enabled",
        "setup_link_made",
        "person_removed",
    ]
    token = link.text.split("/admin/setup#")[1].split("<")[0]
    assert token not in json.dumps(await admin_app.db.audit.find({}, {"_id": 0}).to_list(), default=str)


async def test_the_last_active_administrator_stays(admin_app, ada):
    me = admin_app.ada["_id"]
    await ada.get(f"/admin/people/{me}")
    for action, form in [("/disable", {}), ("/remove", {}), ("", {"role": "member"})]:
        r = await ada.post(f"/admin/people/{me}{action}", form)
        assert r.status_code == 409 and "last active administrator" in r.text, action
    assert (await admin_app.db.people.find_one({"_id": me}))["role"] == "admin"
    # with a second administrator, the first may step down (and logs in again as a member)
    await ada.post(f"/admin/people/{admin_app.max['_id']}", {"role": "admin"})
    assert (await ada.post(f"/admin/people/{me}", {"role": "member"})).status_code == 303
    assert (await ada.get("/admin")).status_code == 303


async def _events(harness, n: int, **fields):
    base = harness.clock.now()
    for i in range(n):
        await record(harness.db, now=base - timedelta(hours=i), event=fields.get("event", "code_verified"),
                     outcome=fields.get("outcome", "success"), door=fields.get("door"), person=fields.get("person"),
                     reason=fields.get("reason"), client="=HYPERLINK(\"http://evil\")" if i == 0 else None)  # fmt: skip


async def test_audit_filters_pages_and_exports_exactly_the_view(admin_app, ada):
    front = await admin_app.add_door("Front door")
    shed = await admin_app.add_door("Shed")
    await _events(admin_app, 60, door=front.door_id, person=admin_app.max["_id"])
    await _events(admin_app, 7, door=front.door_id, outcome="failure", reason="wrong_code")
    await _events(admin_app, 5, door=shed.door_id)
    base = "/admin/audit?door=" + front.door_id
    first = await ada.get(base)
    assert first.text.count('<tr class="outcome-') == 50 and 'rel="next"' in first.text
    second = await ada.get(base + "&page=2")
    assert second.text.count('<tr class="outcome-') == 17 and 'rel="next"' not in second.text
    failures = await ada.get(base + "&outcome=failure&reason=wrong_code")
    assert failures.text.count('<tr class="outcome-') == 7
    since = (admin_app.clock.now() - timedelta(hours=9, minutes=30)).strftime("%Y-%m-%dT%H:%M")
    view = f"door={front.door_id}&person={admin_app.max['_id']}&since={since}"
    shown = (await ada.get("/admin/audit?" + view)).text.count('<tr class="outcome-')
    assert shown == 10
    exported = await ada.get(f"/admin/audit/export?{view}&format=csv")
    assert (
        exported.headers["content-type"].startswith("text/csv")
        and "attachment" in exported.headers["content-disposition"]
    )
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(rows) == shown and {r["door"] for r in rows} == {front.door_id}
    assert rows[0]["client"].startswith("'=")  # formula-safe
    jsonl = await ada.get(f"/admin/audit/export?{view}&format=jsonl")
    assert [json.loads(line)["at"] for line in jsonl.text.splitlines()] == [r["at"] for r in rows]
    whole = await ada.get(f"/admin/audit/export?door={front.door_id}&format=jsonl")
    assert len(whole.text.splitlines()) == 67  # every page of the view
    exports = await admin_app.audit(event="audit_exported")
    assert exports[0]["actor"] == admin_app.ada["_id"] and exports[0]["filter"]["door"] == front.door_id


async def test_chart_counts_events_per_day(admin_app, ada):
    await _events(admin_app, 48, outcome="success")  # two days, hourly
    page = await ada.get("/admin/audit?event=code_verified")
    bars = re.findall(r"<title>(\d{4}-\d\d-\d\d): (\d+) events?</title>", page.text)
    assert sum(int(n) for _, n in bars) == 48 and len([b for b in bars if b[1] != "0"]) in (2, 3)
    assert '<svg viewBox="0 0 600' in page.text
