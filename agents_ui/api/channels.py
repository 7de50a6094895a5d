"""The channels that are on, and the state of their inbound tasks (admins; also on /readyz)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from agents_ui.deps import Caller, require_admin
from hub.channel_tasks import ChannelState, ChannelTasks

router = APIRouter(prefix="/api/v1/admin/channels", tags=["channels"])


class TaskOut(BaseModel):
    name: str = Field(description="the task's name within its channel, e.g. imap-poller")
    state: Literal["running", "restarting", "stopped"]
    restarts: int = Field(description="how many times it was started again after failing or ending")
    last_error: str | None = Field(description="the last failure's type and words (kept after it recovers)")
    restart_at: datetime | None = Field(description="when it starts again (restarting only; backoff 1-60 s)")


class ChannelOut(BaseModel):
    channel: str = Field(description="api, sms, demo, or a channel added by the setting extra_channels")
    tasks: list[TaskOut] = Field(description="its supervised inbound tasks ([] for a channel that has none)")


class ChannelsOut(BaseModel):
    items: list[ChannelOut]


def channels_out(states: list[ChannelState]) -> list[ChannelOut]:
    return [ChannelOut(channel=c.channel, tasks=[TaskOut(name=t.name, state=t.state, restarts=t.restarts,
                                                         last_error=t.last_error, restart_at=t.restart_at)
                                                 for t in c.tasks])
            for c in states]


@router.get("", summary="The channels that are on, and their inbound tasks' states")
async def list_channels(request: Request, _: Caller = Depends(require_admin)) -> ChannelsOut:
    tasks: ChannelTasks = request.app.state.channel_tasks
    return ChannelsOut(items=channels_out(tasks.states()))
