"""A person's push URL in the admin app: set through the person's page, refused with a 422
when apprise cannot read it, shown only as its service, never echoed in a page, a reply or
the audit."""

from __future__ import annotations

TOKEN = "s3cr3t-t0ken-0815"
URL = f"json://127.0.0.1:9/{TOKEN}"


async def test_the_push_url_is_set_masked_refused_when_unreadable_and_removed(admin_app, ada):
    gus = admin_app.max
    page_url = f"/admin/people/{gus['_id']}"
    await ada.get(page_url)
    bad = await ada.post(f"{page_url}/push", {"push_url": f"bogus://{TOKEN}", "delivery": "push"})
    assert bad.status_code == 422 and TOKEN not in bad.text
    no_url = await ada.post(f"{page_url}/push", {"push_url": "", "delivery": "push"})
    assert no_url.status_code == 422 and "push URL" in no_url.text
    assert (await ada.post(f"{page_url}/push", {"push_url": URL, "delivery": "both"})).status_code == 303
    stored = await admin_app.db.people.find_one({"_id": gus["_id"]})
    assert stored["delivery"] == "both" and TOKEN.encode() not in bytes(stored["push_url"])
    page = await ada.get(page_url)
    assert "JSON (json://…)" in page.text and TOKEN not in page.text and "127.0.0.1:9" not in page.text
    # an empty URL keeps the one there is
    assert (await ada.post(f"{page_url}/push", {"push_url": "", "delivery": "push"})).status_code == 303
    assert (await admin_app.db.people.find_one({"_id": gus["_id"]}))["delivery"] == "push"
    assert TOKEN not in (await ada.get("/admin/people")).text
    assert (await ada.post(f"{page_url}/push/remove")).status_code == 303
    after = await admin_app.db.people.find_one({"_id": gus["_id"]})
    assert "push_url" not in after and after["delivery"] == "email"
    events = await admin_app.audit(person=gus["_id"], event="person_updated")
    assert [e["changed"] for e in events] == [["push_url", "delivery"], ["delivery"], ["push_url"]]
    assert TOKEN not in repr(await admin_app.db.audit.find({}).to_list())
