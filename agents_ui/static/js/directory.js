// Who is who: agents and teams by id, for names in rows, events, the mention picker and assignment.
// Kept fresh from the socket (agent.updated, presence.changed, team.*).
export class Directory {
  constructor(api) {
    this.api = api;
    this.agents = new Map();
    this.teams = new Map();
  }

  async load() {
    const [agents, teams] = await Promise.all([
      this.api('GET', '/api/v1/agents').catch(() => ({items: []})),
      this.api('GET', '/api/v1/teams').catch(() => ({items: []})),
    ]);
    this.agents = new Map(agents.items.map((a) => [a.id, a]));
    this.teams = new Map(teams.items.map((x) => [x.id, x]));
  }

  agentName(id) {
    const a = this.agents.get(id);
    return a ? a.name : (id == null ? '' : `#${id}`);
  }

  teamName(id) {
    const x = this.teams.get(id);
    return x ? x.name : (id == null ? '' : `#${id}`);
  }

  activeAgents() {
    return [...this.agents.values()].filter((a) => a.active !== false);
  }

  apply(event) {
    const d = event.data || {};
    if (event.type === 'presence.changed' && this.agents.has(d.agent_id)) {
      this.agents.get(d.agent_id).presence = d.presence;
    } else if (event.type === 'agent.updated' && d.agent) {
      this.agents.set(d.agent.id, d.agent);
    } else if (event.type.startsWith('team.')) {
      this.load();
    }
  }
}
