"""The web chat's settings: its widgets, each with its look, entry point, pre-chat form, allowed
origins and identity secret. Read once by config/settings.py (section `[webchat]`, env
`HUB_WEBCHAT__...`) and handed to the adapter."""

from __future__ import annotations

import re

from pydantic import BaseModel, Field, field_validator, model_validator

from hub.ports import BusinessHours, origin_of

WIDGET_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
PRECHAT_FIELDS = ("name", "email")


class WidgetSettings(BaseModel):
    id: str  # in the embed snippet (data-widget) and the visitor's identity scope: never change it
    name: str = "Support"  # the widget's title
    colour: str = "#2457c5"
    # Shown above the first message; {lang: text}, or one text for every language. Empty: the
    # translation files' greeting.
    greeting: dict[str, str] = Field(default_factory=dict)
    # The entry point (routing rules match `source`): which team's queue the chats go to.
    source: str = "website"
    # Pre-chat form: which fields are asked ("name", "email") and which of them are required.
    prechat_fields: list[str] = Field(default_factory=list)
    prechat_required: list[str] = Field(default_factory=list)
    # Sites that may embed this widget (origins such as "https://shop.example.com"): the socket's
    # Origin and the HTTP routes' CORS. The hub's own origin always may (its demo page).
    allowed_origins: list[str] = Field(default_factory=list)
    # Who answers: the team (by name) whose online agents make the widget "open". None: any agent.
    team: str | None = None
    # When the widget is open (the same shape as a team's hours; no open day: always closed);
    # None: at all hours. Outside them, or with nobody of `team` online, the widget says so, still
    # takes messages, and asks for an email address so a later reply reaches the visitor by email.
    business_hours: BusinessHours | None = None
    # HMAC-SHA256 key for signed identities of logged-in users (channels/webchat/identity.py).
    identity_secret: str | None = None
    require_identity: bool = False
    # The largest picture or PDF a visitor may send (channels/webchat/files.py); the hub's own
    # `attachment_max_bytes` caps it too.
    max_file_bytes: int = Field(default=5 * 1024 * 1024, ge=1, le=100 * 1024 * 1024)

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not WIDGET_ID.match(value):
            raise ValueError(f"widget id {value!r}: lower-case letters, digits, - and _, at most 40")
        return value

    @field_validator("colour")
    @classmethod
    def _colour(cls, value: str) -> str:
        if not COLOUR.match(value):
            raise ValueError(f"colour {value!r} is not like #2457c5")
        return value

    @field_validator("prechat_fields", "prechat_required")
    @classmethod
    def _fields(cls, value: list[str]) -> list[str]:
        if unknown := [f for f in value if f not in PRECHAT_FIELDS]:
            raise ValueError(f"pre-chat fields {unknown}: only {', '.join(PRECHAT_FIELDS)}")
        return value

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for entry in value:
            if origin_of(entry) is None:
                raise ValueError(f"allowed origin {entry!r} is not like https://shop.example.com")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> WidgetSettings:
        if not set(self.prechat_required) <= set(self.prechat_fields):
            raise ValueError(f"widget {self.id}: prechat_required lists a field prechat_fields does not ask")
        if self.require_identity and not self.identity_secret:
            raise ValueError(f"widget {self.id}: require_identity needs an identity_secret")
        return self


def demo_widget() -> WidgetSettings:
    return WidgetSettings(id="demo", name="Demo shop", source="website", prechat_fields=["name", "email"])


class WebchatSettings(BaseModel):
    enabled: bool = True
    widgets: list[WidgetSettings] = Field(default_factory=lambda: [demo_widget()])
    # GET /widget/demo: a page with the first widget embedded (`make run` shows it).
    demo_page: bool = True
    # Per visitor and per client address: messages (and pre-chat forms) in any 10 s, typing
    # hints in any 10 s, socket openings per address in any minute.
    visitor_messages_per_10s: int = Field(default=10, ge=1)
    address_messages_per_10s: int = Field(default=60, ge=1)
    typing_per_10s: int = Field(default=20, ge=1)
    address_connections_per_minute: int = Field(default=60, ge=1)
    # File uploads per visitor and per client address in any minute.
    visitor_uploads_per_minute: int = Field(default=10, ge=1)
    address_uploads_per_minute: int = Field(default=30, ge=1)
    max_text_chars: int = Field(default=5000, ge=1, le=100_000)
    # How often a waiting visitor's place in the queue is asked again (besides after their messages).
    queue_refresh_seconds: float = Field(default=15.0, ge=1.0, le=600.0)
    # An agent's reply that finds none of the visitor's sockets open is handed to this channel
    # (the visitor's email address, if they gave one and that channel is on). None: it waits in
    # the widget only.
    away_channel: str | None = "email"

    @field_validator("widgets")
    @classmethod
    def _unique(cls, value: list[WidgetSettings]) -> list[WidgetSettings]:
        ids = [w.id for w in value]
        if dupes := sorted({i for i in ids if ids.count(i) > 1}):
            raise ValueError(f"two widgets are named {', '.join(dupes)}")
        return value
