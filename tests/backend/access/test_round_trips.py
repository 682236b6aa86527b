"""The round-trip budget of a successful verify (≤ 4: the door read that authenticated it, the
counted attempt, the consumption, the audit insert) holds for a person's code and for a guest's
code with a maximum of uses: the use is counted inside the consumption. Commands are counted by
pymongo's command monitoring on the app's own client."""

from __future__ import annotations

from pymongo import monitoring

from smartdoor.access import service as access
from tests.backend.access.site import make_site
from tests.conftest import code_in


class Commands(monitoring.CommandListener):
    def __init__(self) -> None:
        self.database: str | None = None  # None: not recording
        self.seen: list[str] = []

    def started(self, event) -> None:
        if event.database_name == self.database:
            self.seen.append(f"{event.command_name} {event.command.get(event.command_name, '')}")

    def succeeded(self, event) -> None:
        pass

    def failed(self, event) -> None:
        pass


COMMANDS = Commands()
monitoring.register(COMMANDS)  # before the app's client is made; records only while a test asks


async def test_a_successful_verify_costs_four_round_trips_with_or_without_a_person(make_harness):
    async with make_harness() as h:
        site = await make_site(h)
        await site.grant(max_uses=5)
        for mails, keypad in enumerate((None, "4711"), start=1):
            cid = (await site.ask(keypad)).json()["challenge_id"]
            code = code_in(h.sink.wait_for(mails)[0])
            await h.settle()  # the code request's reply record, written after its reply
            COMMANDS.database, COMMANDS.seen = h.settings.mongo_db, []
            reply = await site.device.verify(cid, code)
            COMMANDS.database = None
            assert reply.status_code == 200
            assert [c.split()[0] for c in COMMANDS.seen] == ["find", "update", "update", "insert"], COMMANDS.seen
        assert [g["uses"] for g in await access.list_grants(h.db)] == [1]
