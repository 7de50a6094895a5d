// The supervisor board (#/supervisor): queues, agents and open conversations, live.
// Events from the agent socket only say "something changed": the board refetches the parts an
// event concerns, throttled, so a burst of events costs one request per part.
import {h, clear} from './dom.js';
import {channelName, clock, problem} from './settings/common.js';

const LIMIT = 500;
const REFETCH_MS = 300;
// Which parts of the board an event type may change.
const PARTS = [
  [/^(conversation\.|sla\.)/, ['queues', 'agents', 'convs']],
  [/^(presence\.|agent\.|team\.member)/, ['queues', 'agents']],
  [/^team\./, ['queues']],
];

let board = null;

export function mount(container, ctx) {
  const {t} = ctx;
  const b = board = {
    ctx, t, alive: true, offs: [], pending: new Set(), timer: null, busy: false,
    queues: null, agents: null, convs: null, errors: {}, selected: new Set(),
    filter: {team: '', status: 'open', unassigned: false},
  };
  b.status = h('p', {class: 'sv-status', role: 'status', 'aria-live': 'polite'});
  b.queueBox = h('div', {class: 'sv-box'});
  b.agentBox = h('div', {class: 'sv-box'});
  b.convBox = h('div', {class: 'sv-box'});
  b.bulk = bulkForm(b);
  clear(container);
  container.append(h('div', {class: 'sv'},
    h('h1', {class: 'sv-title'}, t('supervisor.title')),
    h('div', {class: 'sv-top'},
      section('sv-queues', t('supervisor.queues.title'), b.queueBox),
      section('sv-agents', t('supervisor.agents.title'), b.agentBox)),
    section('sv-convs', t('supervisor.convs.title'), filters(b), b.bulk.form, b.status, b.convBox)));
  for (const k of ['queues', 'agents', 'convs']) renderPart(b, k);
  refresh(b, ['queues', 'agents', 'convs']);
  const sock = ctx.socket;
  if (sock) {
    const all = () => refresh(b, ['queues', 'agents', 'convs']);
    b.offs.push(sock.on('*', (ev) => onEvent(b, ev)), sock.on('resync', all),
      sock.on('state', (s) => { if (s === 'online') all(); }));
  }
  b.tick = setInterval(() => tick(container), 1000);
}

export function unmount() {
  if (!board) return;
  board.alive = false;
  clearInterval(board.tick);
  clearTimeout(board.timer);
  for (const off of board.offs) if (typeof off === 'function') off();
  board = null;
}

function section(cls, title, ...body) {
  const id = `${cls}-h`;
  return h('section', {class: `sv-section ${cls}`, 'aria-labelledby': id},
    h('h2', {id}, title), ...body);
}

function onEvent(b, ev) {
  if (!ev || !ev.type) return;
  const parts = PARTS.filter(([re]) => re.test(ev.type)).flatMap(([, p]) => p);
  if (parts.length) refresh(b, parts);
}

// Throttled refetch: the first event schedules one fetch; events meanwhile join it.
function refresh(b, parts) {
  for (const p of parts) b.pending.add(p);
  if (b.timer || b.busy) return;
  b.timer = setTimeout(() => fetchPending(b), REFETCH_MS);
}

async function fetchPending(b) {
  b.timer = null;
  b.busy = true;
  const parts = [...b.pending];
  b.pending.clear();
  await Promise.all(parts.map((p) => load(b, p)));
  b.busy = false;
  if (!b.alive) return;
  // Names in the conversation list and the bulk form come from the queues and agents.
  if (!parts.includes('convs') && b.convs) parts.push('convs');
  for (const p of parts) renderPart(b, p);
  if (b.pending.size) b.timer = setTimeout(() => fetchPending(b), REFETCH_MS);
}

async function load(b, part) {
  const {api} = b.ctx;
  try {
    const at = Date.now();
    if (part === 'queues') b.queues = stamp((await api('GET', '/api/v1/supervisor/queues')).items, at);
    else if (part === 'agents') b.agents = stamp((await api('GET', '/api/v1/supervisor/agents')).items, at);
    else {
      const q = new URLSearchParams({view: 'all', status: b.filter.status, limit: String(LIMIT)});
      b.convs = (await api('GET', `/api/v1/conversations?${q}`)).items;
    }
    delete b.errors[part];
  } catch (err) {
    b.errors[part] = err;
  }
}

// Waits and idle times count on from the moment they were fetched.
function stamp(items, at) {
  for (const it of items) {
    if (it.longest_wait_seconds) it.since = at - it.longest_wait_seconds * 1000;
    if (it.idle_seconds != null) it.since = at - it.idle_seconds * 1000;
  }
  return items;
}

function renderPart(b, part) {
  const box = {queues: b.queueBox, agents: b.agentBox, convs: b.convBox}[part];
  const {t} = b;
  // Parts are rebuilt: keep the keyboard focus on the same control of the same row.
  const focus = document.activeElement;
  const row = box.contains(focus) && focus.closest('tr');
  const focusKey = row ? [row.dataset.id || 'head', focus.tagName] : null;
  clear(box);
  const err = b.errors[part];
  if (err) {
    box.append(h('div', {class: 'sv-error', role: 'alert'},
      h('p', {}, t(`supervisor.${part}.error`), ' ', problem(t, err)),
      h('button', {type: 'button', onclick: () => refresh(b, [part])}, t('supervisor.retry'))));
    return;
  }
  const data = b[part];
  if (!data) { box.append(h('p', {class: 'sv-loading'}, t('supervisor.loading'))); return; }
  if (part === 'queues') box.append(queuesTable(b, data));
  else if (part === 'agents') box.append(data.length ? agentsTable(b, data) : empty(t('supervisor.agents.empty')));
  else {
    renderConvs(b, data, focusKey);
    b.bulk.fill();
  }
}

function empty(text) {
  return h('p', {class: 'sv-empty'}, text);
}

function since(ms) {
  return h('span', {class: 'sv-clock', 'data-since': String(ms)}, clock(Date.now() - ms));
}

function tick(container) {
  const now = Date.now();
  for (const el of container.querySelectorAll('[data-since]')) {
    el.textContent = clock(now - Number(el.dataset.since));
  }
}

function th(text, cls) {
  return h('th', {scope: 'col', class: cls}, text);
}

function queuesTable(b, items) {
  const {t} = b;
  return h('table', {class: 'sv-table'},
    h('thead', {}, h('tr', {}, th(t('supervisor.queues.name')),
      ...['waiting', 'longest', 'at_risk', 'online'].map((k) => th(t(`supervisor.queues.${k}`), 'num')))),
    h('tbody', {}, ...items.map((q) => h('tr', {class: q.sla_at_risk ? 'sv-risk' : ''},
      h('th', {scope: 'row'}, q.team_id == null ? t('supervisor.shared_inbox') : q.name),
      h('td', {class: 'num'}, String(q.waiting)),
      h('td', {class: 'num'}, q.waiting && q.since ? since(q.since) : '–'),
      h('td', {class: 'num'}, q.sla_at_risk ? h('strong', {}, `⚠ ${q.sla_at_risk}`) : '0'),
      h('td', {class: 'num'}, q.agents_online == null ? '–' : String(q.agents_online))))));
}

function agentsTable(b, items) {
  const {t} = b;
  return h('table', {class: 'sv-table'},
    h('thead', {}, h('tr', {}, th(t('supervisor.agents.name')), th(t('supervisor.agents.presence')),
      th(t('supervisor.agents.load')), th(t('supervisor.agents.idle'), 'num'))),
    h('tbody', {}, ...items.map((a) => h('tr', {},
      h('th', {scope: 'row'}, a.name),
      h('td', {}, h('span', {class: `sv-presence sv-${a.presence}`}, t(`supervisor.presence.${a.presence}`))),
      h('td', {}, loadList(b, a)),
      h('td', {class: 'num'}, a.since ? since(a.since) : '–')))));
}

function loadList(b, a) {
  // Busy channels first, then the others by name.
  const load = a.load || {};
  const channels = [...new Set([...Object.keys(a.capacity || {}), ...Object.keys(load)])]
    .filter((c) => (a.capacity || {})[c] || load[c])
    .sort((x, y) => (load[y] || 0) - (load[x] || 0) || x.localeCompare(y));
  if (!channels.length) return '–';
  return h('ul', {class: 'sv-load'}, ...channels.map((c) => {
    const n = (a.load || {})[c] || 0;
    const cap = (a.capacity || {})[c] || 0;
    const full = n >= cap;
    return h('li', {class: full ? 'sv-full' : n ? '' : 'sv-idle', title: full ? b.t('supervisor.agents.full') : null},
      `${channelName(b.t, c)} ${n}/${cap}`, full ? ' ●' : '');
  }));
}

function teamName(b, id) {
  if (id == null) return b.t('supervisor.shared_inbox');
  const q = (b.queues || []).find((x) => x.team_id === id);
  return q ? q.name : `#${id}`;
}

function agentName(b, id) {
  if (id == null) return b.t('supervisor.convs.nobody');
  const a = (b.agents || []).find((x) => x.id === id);
  return a ? a.name : `#${id}`;
}

function filters(b) {
  const {t} = b;
  const team = h('select', {id: 'sv-f-team', onchange: () => { b.filter.team = team.value; renderPart(b, 'convs'); }});
  const status = h('select', {id: 'sv-f-status', onchange: () => { b.filter.status = status.value; b.convs = null; renderPart(b, 'convs'); refresh(b, ['convs']); }},
    ...['open', 'pending', 'snoozed'].map((s) => h('option', {value: s}, t(`supervisor.status.${s}`))));
  const unassigned = h('input', {type: 'checkbox', id: 'sv-f-unassigned', onchange: () => { b.filter.unassigned = unassigned.checked; renderPart(b, 'convs'); }});
  b.teamFilter = team;
  return h('div', {class: 'sv-filters'},
    h('label', {for: 'sv-f-status'}, t('supervisor.filter.status')), status,
    h('label', {for: 'sv-f-team'}, t('supervisor.filter.team')), team,
    h('span', {class: 'sv-check'}, unassigned, h('label', {for: 'sv-f-unassigned'}, t('supervisor.filter.unassigned'))));
}

function visibleConvs(b) {
  const f = b.filter;
  return (b.convs || []).filter((c) => (f.team === '' || String(c.team_id ?? 'none') === f.team)
    && (!f.unassigned || c.assignee_id == null))
    .sort(longestWaitFirst);
}

// Waiting conversations first, the longest wait at the top; then the others, oldest first.
function longestWaitFirst(x, y) {
  const [a, b] = [x.waiting_since ? Date.parse(x.waiting_since) : Infinity, y.waiting_since ? Date.parse(y.waiting_since) : Infinity];
  return a === b ? x.id - y.id : a < b ? -1 : 1;
}

function renderConvs(b, all, focusKey) {
  const {t} = b;
  const box = b.convBox;
  fillSelect(b.teamFilter, b.filter.team, [['', t('supervisor.filter.all_teams')], ['none', t('supervisor.shared_inbox')],
    ...(b.queues || []).filter((q) => q.team_id != null).map((q) => [String(q.team_id), q.name])]);
  // Only what is on screen stays selected: a bulk move never touches a row the filters hide.
  const rows = visibleConvs(b);
  const ids = new Set(rows.map((c) => c.id));
  for (const id of [...b.selected]) if (!ids.has(id)) b.selected.delete(id);
  if (!rows.length) {
    box.append(empty(all.length ? t('supervisor.convs.none_match') : t('supervisor.convs.empty')));
    return;
  }
  const selectAll = h('input', {type: 'checkbox', 'aria-label': t('supervisor.convs.select_all')});
  const boxes = [];
  const sync = () => {
    const n = boxes.filter((x) => x.checked).length;
    selectAll.checked = n === boxes.length;
    selectAll.indeterminate = n > 0 && n < boxes.length;
    b.bulk.count();
  };
  selectAll.addEventListener('change', () => {
    for (const x of boxes) {
      x.checked = selectAll.checked;
      if (x.checked) b.selected.add(Number(x.value)); else b.selected.delete(Number(x.value));
    }
    sync();
  });
  const body = rows.map((c) => {
    const who = c.contact_name || t('supervisor.convs.customer', {id: c.contact_id});
    const cb = h('input', {type: 'checkbox', value: String(c.id), 'aria-label': t('supervisor.convs.select', {name: who, id: c.id})});
    cb.checked = b.selected.has(c.id);
    cb.addEventListener('change', () => { if (cb.checked) b.selected.add(c.id); else b.selected.delete(c.id); sync(); });
    boxes.push(cb);
    const waiting = c.waiting_since && c.status === 'open' ? since(Date.parse(c.waiting_since)) : '–';
    return h('tr', {'data-id': String(c.id)},
      h('td', {class: 'sv-cb'}, cb),
      h('th', {scope: 'row'}, h('a', {href: `#/c/${c.id}`}, who), h('span', {class: 'sv-id'}, ` #${c.id}`)),
      h('td', {}, channelName(t, c.channel)),
      h('td', {}, teamName(b, c.team_id)),
      h('td', {class: c.assignee_id == null ? 'sv-nobody' : ''}, agentName(b, c.assignee_id)),
      h('td', {class: 'num'}, waiting));
  });
  box.append(h('table', {class: 'sv-table sv-convtable'},
    h('thead', {}, h('tr', {}, h('td', {class: 'sv-cb'}, selectAll), th(t('supervisor.convs.customer_col')),
      th(t('supervisor.convs.channel')), th(t('supervisor.convs.queue')), th(t('supervisor.convs.assignee')),
      th(t('supervisor.convs.waiting'), 'num'))),
    h('tbody', {}, ...body)));
  if (focusKey) {
    const [id, tag] = focusKey;
    const again = id === 'head' ? selectAll : box.querySelector(`tr[data-id="${id}"] ${tag.toLowerCase()}`);
    if (again) again.focus();
  }
  if (all.length >= LIMIT) box.append(h('p', {class: 'sv-note'}, t('supervisor.convs.truncated', {count: LIMIT})));
  sync();
}

// Options are rebuilt only when they changed, so a refresh never closes a list someone has open.
function fillSelect(sel, value, options) {
  const key = JSON.stringify(options);
  if (sel.dataset.options === key) return;
  sel.dataset.options = key;
  clear(sel);
  for (const [v, label] of options) sel.append(h('option', {value: v}, label));
  sel.value = options.some(([v]) => v === value) ? value : options[0][0];
}

function bulkForm(b) {
  const {t} = b;
  const agent = h('select', {id: 'sv-b-agent'});
  const team = h('select', {id: 'sv-b-team'});
  const note = h('input', {id: 'sv-b-note', type: 'text', maxlength: '5000', autocomplete: 'off'});
  const counter = h('span', {class: 'sv-count'});
  const submit = h('button', {type: 'submit', class: 'sv-apply'}, t('supervisor.bulk.apply'));
  const form = h('form', {class: 'sv-bulk', 'aria-label': t('supervisor.bulk.label')},
    counter,
    h('label', {for: 'sv-b-agent'}, t('supervisor.bulk.agent')), agent,
    h('label', {for: 'sv-b-team'}, t('supervisor.bulk.team')), team,
    h('label', {for: 'sv-b-note'}, t('supervisor.bulk.note')), note,
    submit);
  const say = (text, bad) => {
    b.status.textContent = text;
    b.status.classList.toggle('sv-bad', !!bad);
  };
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const ids = [...b.selected];
    if (!ids.length) return say(t('supervisor.bulk.pick_conversations'), true);
    if (!agent.value && !team.value) return say(t('supervisor.bulk.pick_target'), true);
    const body = {conversation_ids: ids};
    if (agent.value) body.assignee_id = Number(agent.value);
    if (team.value) body.team_id = Number(team.value);
    if (note.value.trim()) body.note = note.value.trim();
    submit.disabled = true;
    try {
      const out = await b.ctx.api('POST', '/api/v1/supervisor/assign', body);
      const n = out.items.length;
      say(agent.value
        ? t('supervisor.bulk.done_agent', {count: n, name: agentName(b, Number(agent.value))})
        : t('supervisor.bulk.done_team', {count: n, name: teamName(b, Number(team.value))}));
      b.selected.clear();
      note.value = '';
      refresh(b, ['queues', 'agents', 'convs']);
    } catch (err) {
      say(problem(t, err), true);
    } finally {
      submit.disabled = false;
    }
  });
  return {
    form,
    count() { counter.textContent = t('supervisor.bulk.selected', {count: b.selected.size}); },
    fill() {
      fillSelect(agent, agent.value, [['', t('supervisor.bulk.agent_none')],
        ...(b.agents || []).map((a) => [String(a.id), `${a.name} (${t(`supervisor.presence.${a.presence}`)})`])]);
      fillSelect(team, team.value, [['', t('supervisor.bulk.team_keep')],
        ...(b.queues || []).filter((q) => q.team_id != null).map((q) => [String(q.team_id), q.name])]);
      this.count();
    },
  };
}
