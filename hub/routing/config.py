"""How the router is set up (from settings, config/app.py): rules, default capacities, the waits
and cooldowns, and which channels are offered or released when their agent goes offline."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from hub.routing.rules import Rule


@dataclass
class RoutingConfig:
    rules: list[Rule] = field(default_factory=list)  # from config; database rules follow them
    # Capacity per channel of agents who set none (setting routing.default_capacity); a channel
    # missing here and from an agent's own capacities gets no work routed to that agent.
    default_capacity: dict[str, int] = field(default_factory=dict)
    sticky_wait: timedelta = timedelta(seconds=30)
    # An agent who declined a chat, let its offer lapse or handed a conversation back is left out
    # of its routing this long (after that, even a lone agent gets it again).
    pass_cooldown: timedelta = timedelta(minutes=5)
    presence_grace: timedelta = timedelta(seconds=60)
    sla_boost: int = 10
    # Channels whose conversations leave an agent who goes offline (setting
    # routing.release_on_offline; the others stay with them).
    release_on_offline: tuple[str, ...] = ()
    # Channels whose conversations are offered (the agent accepts within the team's
    # offer_timeout_seconds) rather than assigned outright (setting routing.offer_channels).
    offer_channels: tuple[str, ...] = ()
