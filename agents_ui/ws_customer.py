"""One agent socket's customer: the contact whose sidebar the console shows, whose events reach it
beyond the agent's scope of work (`hub.events.visibility.can_see_customer_event`): their other
conversations in other teams are listed in the sidebar, so their changes must arrive too.

Frames (agents_ui/ws.py): client → `{"type": "customer", "contact_id": C}` when its sidebar shows
C (`null`: none); server → `{"type": "customer", "contact_id": C}` once the socket follows C, or
`null` when the agent may not read C (as for a contact that does not exist). A console reads C
through the API after this answer, so nothing committed between its read and the follow is lost.
Not kept across connections, and events of C outside the agent's scope of work are not replayed
on a resume: a console says it again after every `ready` and reads C again.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from agents_ui.deps import Caller
from hub import access
from hub.errors import HubError
from hub.events.log import EventView
from hub.events.visibility import can_see_customer_event
from hub.runtime import Hub

# Contact ids are 32-bit in the database: a larger one cannot be looked up.
MAX_CONTACT_ID = 2**31 - 1


class FollowedCustomer:
    def __init__(self, hub: Hub, caller: Callable[[], Caller]) -> None:
        self.hub = hub
        self.caller = caller
        self.contact_id: int | None = None

    def sees(self, event: EventView) -> bool:
        return can_see_customer_event(self.caller().scope, event, self.contact_id)

    async def follow(self, contact_id: object) -> tuple[str | None, str | None]:
        """A `customer` frame: (the answer to send, an error message for a malformed frame)."""
        if contact_id is not None and (type(contact_id) is not int or not 0 < contact_id <= MAX_CONTACT_ID):
            return None, "customer: contact_id must be a contact's id, or null"
        readable = contact_id is not None and await asyncio.to_thread(self.may_read, contact_id)
        self.contact_id = contact_id if readable else None
        return json.dumps({"type": "customer", "contact_id": self.contact_id}), None

    async def recheck(self) -> None:
        """After the agent was read again (their teams may have changed): stop following a
        customer they may no longer read (in `team` mode, where reading depends on teams)."""
        if self.contact_id is not None and self.caller().scope.isolated \
                and not await asyncio.to_thread(self.may_read, self.contact_id):
            self.contact_id = None

    def may_read(self, contact_id: int) -> bool:
        try:
            with self.hub.db.read() as s:
                access.check_contact(s, self.caller().scope, contact_id)
        except HubError:
            return False
        return True
