"""Named writes on agents, teams, tokens and API keys, plus the permission-checked lookups."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, insert, select
from sqlmodel import Session, col

from hub.agents.models import PRESENCES, ROLES, Agent, ApiKey, AuthToken, Team, TeamMember
from hub.agents.passwords import digest, hash_password, new_secret
from hub.clock import utcnow
from hub.contacts.actions import normalize_email
from hub.errors import Conflict, Invalid, NotFound
from hub.events import log
from hub.events.types import AgentUpdated, MemberAdded, MemberRemoved, PresenceChanged, SessionEnded

MIN_PASSWORD = 8


def agent_dict(a: Agent, team_ids: list[int] | None = None) -> dict[str, object]:
    return {
        "id": a.id,
        "email": a.email,
        "name": a.name,
        "role": a.role,
        "active": a.active,
        "presence": a.presence,
        "capacities": a.capacities,
        "skills": a.skills,
        "team_ids": team_ids if team_ids is not None else [],
        "last_assigned_at": a.last_assigned_at.isoformat() if a.last_assigned_at else None,
    }


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise Invalid(f"passwords need at least {MIN_PASSWORD} characters")


def get_agent_by_email(session: Session, email: str) -> Agent | None:
    return session.execute(select(Agent).where(col(Agent.email) == email.strip().lower())).scalar_one_or_none()


def get_agent(session: Session, agent_id: int) -> Agent:
    agent = session.get(Agent, agent_id)
    if agent is None:
        raise NotFound(f"agent {agent_id} does not exist")
    return agent


def active_admins(session: Session) -> int:
    admins = select(col(Agent.id)).where(col(Agent.role) == "admin", col(Agent.active).is_(True))
    return len(session.execute(admins).all())


def team_ids_of(session: Session, agent_id: int) -> list[int]:
    return list(session.execute(select(col(TeamMember.team_id)).where(col(TeamMember.agent_id) == agent_id)).scalars())


@dataclass(frozen=True)
class NewPassword:
    """A new password, checked and hashed (`new_password`)."""

    hash: str


def new_password(password: str) -> NewPassword:
    """Check and hash a new password before the write transaction: argon2 takes ~0.45 s, which
    inside one holds the hub-wide write lock (every inbound message waits)."""
    check_password(password)
    return NewPassword(hash_password(password))


def _hash_of(password: str | NewPassword) -> str:
    return (password if isinstance(password, NewPassword) else new_password(password)).hash


def do_create_agent(
    session: Session, *, email: str, name: str, role: str, password: str | NewPassword,
    capacities: dict[str, int] | None = None, skills: list[str] | None = None,
) -> Agent:
    """A plain-text `password` is hashed here, in the transaction: for scripts and tests; the web
    and the CLI pass a `new_password` made before it."""
    if role not in ROLES:
        raise Invalid(f"role must be one of {', '.join(ROLES)}")
    password_hash = _hash_of(password)  # a plain one is checked (and hashed) once, here
    email = normalize_email(email)
    if not name.strip():
        raise Invalid("an agent needs a name")
    if get_agent_by_email(session, email) is not None:
        raise Conflict(f"an agent with email {email} already exists", reason="email_taken", address=email)
    agent = Agent(email=email, name=name.strip(), role=role, password_hash=password_hash,
                  capacities=capacities or {}, skills=skills or [])
    session.add(agent)
    session.flush()
    return agent


def do_set_password(session: Session, agent: Agent, password: str | NewPassword) -> None:
    agent.password_hash = _hash_of(password)
    _end_sessions(session, agent)


def do_set_active(session: Session, agent: Agent, active: bool) -> None:
    """Deactivating ends the agent's sessions for good: a reactivation must not bring back tokens
    that were out there meanwhile (a lost laptop is often why an agent is deactivated)."""
    agent.active = active
    if not active:
        _end_sessions(session, agent)


def check_keeps_an_admin(session: Session, agent: Agent, *, role: str | None, active: bool | None) -> None:
    """Refuses (409) a change of role or activity that would leave no active admin."""
    stays_admin = (role or agent.role) == "admin" and (active if active is not None else agent.active)
    if agent.role == "admin" and agent.active and not stays_admin and active_admins(session) <= 1:
        raise Conflict("this is the last active admin; make another admin first")


def do_update_agent(
    session: Session, agent: Agent, *, name: str | None = None, role: str | None = None, active: bool | None = None,
    capacities: dict[str, int] | None = None, skills: list[str] | None = None, password: NewPassword | None = None,
    actor_agent_id: int | None,
) -> dict[str, object]:
    """Changes what is given (None: unchanged) and appends `agent.updated`; returns the agent as
    `agent_dict` has it. Callers ask `check_keeps_an_admin` first."""
    for field, value in (("name", name), ("role", role), ("capacities", capacities), ("skills", skills)):
        if value is not None:
            setattr(agent, field, value)
    if active is not None:
        do_set_active(session, agent, active)
    if password is not None:
        do_set_password(session, agent, password)
    assert agent.id is not None
    info = agent_dict(agent, team_ids_of(session, agent.id))
    # Capacity, skills or activity may have changed: routing looks at its queues again.
    log.append(session, AgentUpdated(actor_agent_id=actor_agent_id, agent_id=agent.id, agent=info))
    return info


def _end_sessions(session: Session, agent: Agent) -> None:
    session.execute(delete(AuthToken).where(col(AuthToken.agent_id) == agent.id))


def do_create_token(session: Session, agent: Agent, ttl: timedelta) -> str:
    assert agent.id is not None
    token = new_secret("hub")
    session.add(AuthToken(agent_id=agent.id, token_hash=digest(token), expires_at=utcnow() + ttl))
    return token


def do_open_session(session: Session, *, agent_id: int, password_hash: str, token_hash: str,
                    expires_at: datetime) -> bool:
    """Stores a session token if the agent is still active with this password hash (the password
    was checked outside the transaction; either may have changed since). A writer op (`Hub.write_async`):
    nothing but this one statement."""
    row = session.execute(
        select(col(Agent.active), col(Agent.password_hash)).where(col(Agent.id) == agent_id)
    ).first()
    if row is None or not row.active or row.password_hash != password_hash:
        return False
    session.execute(insert(AuthToken).values(agent_id=agent_id, token_hash=token_hash, created_at=utcnow(),
                                             expires_at=expires_at))
    return True


@dataclass(frozen=True)
class TokenOwner:
    """Who a session token belongs to, read as plain rows (no ORM entities)."""

    agent_id: int
    email: str
    name: str
    role: str
    team_ids: frozenset[int]
    expires_at: datetime


_TOKEN_OWNER = (
    select(col(Agent.id), col(Agent.email), col(Agent.name), col(Agent.role), col(AuthToken.expires_at))
    .select_from(AuthToken)
    .join(Agent, col(Agent.id) == col(AuthToken.agent_id))
    .where(col(AuthToken.token_hash) == bindparam("hash"), col(Agent.active).is_(True))
)
_TEAM_IDS = select(col(TeamMember.team_id)).where(col(TeamMember.agent_id) == bindparam("agent"))


def token_owner(session: Session, token: str) -> TokenOwner | None:
    """The active agent a live token belongs to, with their teams; None for an unknown, expired or
    deactivated one."""
    row = session.execute(_TOKEN_OWNER, {"hash": digest(token)}).first()
    if row is None or row.expires_at <= utcnow():
        return None
    teams = frozenset(session.execute(_TEAM_IDS, {"agent": row.id}).scalars())
    return TokenOwner(row.id, row.email, row.name, row.role, teams, row.expires_at)


def do_revoke_token(session: Session, token: str, *, agent_id: int) -> None:
    """End a session. `agent.session_ended` tells the agent's open sockets, on every node, to check
    their own token again (the event names no token: each socket learns only about its own)."""
    session.execute(delete(AuthToken).where(col(AuthToken.token_hash) == digest(token)))
    log.append(session, SessionEnded(agent_id=agent_id))


def do_create_api_key(session: Session, *, name: str, created_by: int | None) -> tuple[ApiKey, str]:
    if not name.strip():
        raise Invalid("an API key needs a name")
    secret = new_secret("hubk")
    key = ApiKey(name=name.strip(), prefix=secret[:9], key_hash=digest(secret), created_by=created_by)
    session.add(key)
    session.flush()
    return key, secret


def api_key_for(session: Session, secret: str) -> ApiKey | None:
    key = session.execute(select(ApiKey).where(col(ApiKey.key_hash) == digest(secret))).scalar_one_or_none()
    return key if key is not None and key.revoked_at is None else None


def do_revoke_api_key(session: Session, key_id: int) -> ApiKey:
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"API key {key_id} does not exist")
    key.revoked_at = key.revoked_at or utcnow()
    return key


def do_create_team(session: Session, name: str) -> Team:
    name = name.strip()
    if not name:
        raise Invalid("a team needs a name")
    if session.execute(select(Team).where(col(Team.name) == name)).scalar_one_or_none() is not None:
        raise Conflict(f"a team named {name!r} already exists", reason="team_taken", name=name)
    team = Team(name=name)
    session.add(team)
    session.flush()
    return team


def get_team(session: Session, team_id: int) -> Team:
    team = session.get(Team, team_id)
    if team is None:
        raise NotFound(f"team {team_id} does not exist")
    return team


def get_team_by_name(session: Session, name: str) -> Team:
    team = session.execute(select(Team).where(col(Team.name) == name)).scalar_one_or_none()
    if team is None:
        raise NotFound(f"team {name!r} does not exist")
    return team


def do_add_member(session: Session, team: Team, agent: Agent) -> None:
    assert team.id is not None and agent.id is not None
    if session.get(TeamMember, (team.id, agent.id)) is None:
        session.add(TeamMember(team_id=team.id, agent_id=agent.id))
        log.append(session, MemberAdded(team_id=team.id, agent_id=agent.id))


def do_remove_member(session: Session, team: Team, agent: Agent) -> None:
    assert team.id is not None and agent.id is not None
    member = session.get(TeamMember, (team.id, agent.id))
    if member is not None:
        session.delete(member)
        log.append(session, MemberRemoved(team_id=team.id, agent_id=agent.id))


def memberships(session: Session) -> list[tuple[int, int]]:
    """Every (team id, agent id) pair, in one statement (lists of all agents or all teams)."""
    pair = (col(TeamMember.team_id), col(TeamMember.agent_id))
    stmt = select(*pair).order_by(*pair)
    return [(t, a) for t, a in session.execute(stmt)]


def team_members(session: Session, team_id: int) -> list[int]:
    return list(session.execute(select(col(TeamMember.agent_id)).where(col(TeamMember.team_id) == team_id)).scalars())


def do_set_presence(session: Session, agent: Agent, presence: str) -> bool:
    if presence not in PRESENCES:
        raise Invalid(f"presence must be one of {', '.join(PRESENCES)}")
    if agent.presence == presence:
        return False
    assert agent.id is not None
    previous = agent.presence
    agent.presence = presence
    agent.presence_changed_at = utcnow()
    log.append(session, PresenceChanged(agent_id=agent.id, from_=previous, presence=presence))
    return True
