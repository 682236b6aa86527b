"""Grants on a person's page (the weekly schedule as a grid), a door's access settings and
remote commands: each audited with its actor; a member sees their own grants and changes none."""

from __future__ import annotations

import re

from smartdoor.access import service as access


async def test_weekday_nine_to_five_grant_shown_as_a_grid(admin_app, ada):
    door = await admin_app.add_door("Front door")
    await admin_app.db.doors.update_one({"_id": door.door_id}, {"$set": {"timezone": "Europe/Berlin"}})
    person = admin_app.max["_id"]
    await ada.get(f"/admin/people/{person}")
    form = [("door", door.door_id), ("actions", "unlock"), ("actions", "lock"), ("start", "09:00"), ("end", "17:00")]
    form += [("days", str(d)) for d in range(5)]
    r = await ada.post(f"/admin/people/{person}/grants", form)
    assert r.status_code == 303, r.text[:300]
    grants = await access.list_grants(admin_app.db, person_id=person)
    assert len(grants) == 1 and grants[0]["schedule"] == [{"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "17:00"}]
    page = await ada.get(f"/admin/people/{person}")
    grid = page.text.split('aria-label="Weekly schedule, Europe/Berlin"')[1].split("</table>")[0]
    monday = grid.split('data-day="Mon"')[1].split("</tr>")[0]
    assert re.findall(r'<td class="(\w*)"', monday) == [""] * 9 + ["on"] * 8 + [""] * 7
    sunday = grid.split('data-day="Sun"')[1].split("</tr>")[0]
    assert "on" not in sunday
    event = (await admin_app.audit(event="grant_added"))[0]
    assert event["actor"] == admin_app.ada["_id"] and event["person"] == person and event["door"] == door.door_id
    r = await ada.post(f"/admin/grants/{grants[0]['_id']}/remove")
    assert r.status_code == 303 and await access.list_grants(admin_app.db, person_id=person) == []
    assert (await admin_app.audit(event="grant_removed"))[0]["actor"] == admin_app.ada["_id"]


async def test_bad_grants_are_refused(admin_app, ada):
    door = await admin_app.add_door("Front door")
    person = admin_app.max["_id"]
    await ada.get(f"/admin/people/{person}")
    base = [("door", door.door_id), ("actions", "unlock"), ("days", "0")]
    for extra in ([("start", "17:00"), ("end", "09:00")], [("start", "9"), ("end", "x")], [("days", "9")],
                  [("start", "09:00"), ("end", "10:00"), ("max_uses", "-1")],
                  [("start", "09:00"), ("end", "10:00"), ("valid_from", "garbage")],
                  [("start", "09:00"), ("end", "10:00"), ("actions", "explode")],
                  [("start", "09:00"), ("end", "10:00"), ("person", "p000")]):  # fmt: skip
        r = await ada.post(f"/admin/people/{person}/grants", base + extra)
        assert 400 <= r.status_code < 500, extra
    assert await access.list_grants(admin_app.db, person_id=person) == []


async def test_member_sees_own_grants_only_and_cannot_add_one(admin_app, ada, max_):
    door = await admin_app.add_door("Front door")
    now = admin_app.clock.now()
    await access.add_grant(admin_app.db, person_id=admin_app.max["_id"], door_id=door.door_id, actions=["unlock"],
                           schedule=None, now=now)  # fmt: skip
    other = await access.add_grant(admin_app.db, person_id=admin_app.ada["_id"], door_id=door.door_id,
                                   actions=["lock"], now=now)  # fmt: skip
    page = await max_.get("/admin/me")
    assert "Front door" in page.text and "allowed now" in page.text and other["_id"] not in page.text
    r = await max_.post(f"/admin/people/{admin_app.max['_id']}/grants", [("door", door.door_id), ("actions", "lock"),
                                                                          ("any_time", "1")])  # fmt: skip
    assert r.status_code == 403
    assert (await max_.post(f"/admin/grants/{other['_id']}/remove")).status_code == 403
    assert len(await access.list_grants(admin_app.db)) == 2


async def test_door_settings_and_remote_commands(admin_app, ada):
    door = await admin_app.add_door("Front door")
    await ada.get(f"/admin/doors/{door.door_id}")
    r = await ada.post(f"/admin/doors/{door.door_id}/settings", [("timezone", "Europe/Berlin"), ("remote_unlock", "1"),
                                                                  ("watchers", admin_app.ada["_id"])])  # fmt: skip
    assert r.status_code == 303
    stored = await admin_app.db.doors.find_one({"_id": door.door_id})
    assert stored["timezone"] == "Europe/Berlin" and stored["shared_codes"] is False and stored["remote_unlock"]
    assert stored["watchers"] == [admin_app.ada["_id"]]
    bad = await ada.post(f"/admin/doors/{door.door_id}/settings", [("timezone", "Mars/Olympus")])
    assert bad.status_code == 422
    r = await ada.post(f"/admin/doors/{door.door_id}/command", {"action": "unlock"})
    assert r.status_code == 303
    command = (await admin_app.db.doors.find_one({"_id": door.door_id}))["command"]
    assert command["action"] == "unlock" and command["by"] == admin_app.ada["_id"]
    assert "Waiting for the door: unlock" in (await ada.get(f"/admin/doors/{door.door_id}")).text
    await ada.post(f"/admin/doors/{door.door_id}/settings", [("timezone", "UTC")])  # remote unlock off
    assert (await ada.post(f"/admin/doors/{door.door_id}/command", {"action": "unlock"})).status_code == 403
    events = [(e["event"], e.get("reason")) for e in await admin_app.audit(actor=admin_app.ada["_id"])
              if e.get("door") == door.door_id]  # fmt: skip
    assert ("door_settings", None) in events and ("remote_command", "queued") in events
