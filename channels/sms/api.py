"""The SMS segment counter a console calls while the agent types.

It needs no login: it is a pure computation over the text it is sent, and channels may not
depend on the console's authentication (agents_ui) by design.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from channels.sms.segments import count_segments

router = APIRouter(tags=["SMS (Twilio)"])


class SegmentsIn(BaseModel):
    text: str = Field(max_length=10_000, description="the reply as typed so far")


class SegmentsOut(BaseModel):
    encoding: Literal["GSM-7", "UCS-2"]
    segments: int = Field(description="how many SMS the text is billed and delivered as (0 for an empty text)")
    characters: int = Field(description="characters typed")
    units: int = Field(description="what the network counts: GSM-7 septets (extension characters count 2) "
                                   "or UTF-16 code units (an emoji counts 2)")
    per_segment: int = Field(description="capacity that applies: 160/70 for one SMS, 153/67 per part beyond")


@router.post("/api/v1/sms/segments", summary="How many SMS segments a reply takes (GSM-7 or UCS-2)")
def sms_segments(body: SegmentsIn) -> SegmentsOut:
    return SegmentsOut(**asdict(count_segments(body.text)))
