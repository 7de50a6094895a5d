// Settings > Agents: list, create, edit (name, role, active, capacities, skills), reset a password.
import {h, clear} from '../dom.js';
import {
  CHANNELS, channelName, fetchInto, field, input, messageLine, parseList, select, submitter, table, wholeNumber,
} from './common.js';

const ROLES = ['agent', 'supervisor', 'admin'];
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const MIN_PASSWORD = 8;
// Channel -> the hub's default capacity, learnt from the supervisors' view of agents: its
// capacities are the defaults overlaid by each agent's own (new channels appear by themselves).
let defaults = {};

function learnDefaults(agents, overview) {
  const own = new Map(agents.map((a) => [a.id, a.capacities || {}]));
  defaults = {};
  for (const a of overview) {
    for (const [c, n] of Object.entries(a.capacity || {})) if (!(c in (own.get(a.id) || {}))) defaults[c] = n;
  }
}

const channels = () => [...new Set([...CHANNELS, ...Object.keys(defaults).sort()])];

export async function render(panel, ctx) {
  const {t} = ctx;
  const list = h('div', {}, h('p', {}, t('settings.loading')));
  const editor = h('div', {class: 'st-editor'});
  const create = h('div', {});
  panel.append(h('h2', {}, t('settings.agents.title')), list, editor, create);
  const reload = async () => {
    const got = await fetchInto(list, t, () => Promise.all(['/api/v1/agents', '/api/v1/teams', '/api/v1/supervisor/agents']
      .map((path) => ctx.api('GET', path))));
    if (!got) return;
    const [agents, teams, overview] = got;
    learnDefaults(agents.items, overview.items);
    if (!create.firstChild) create.append(createForm(ctx, reload));
    const teamName = new Map(teams.items.map((x) => [x.id, x.name]));
    list.append(agents.items.length ? table(
      [t('settings.agents.name'), t('settings.agents.email'), t('settings.agents.role'), t('settings.agents.status'),
        t('settings.agents.teams'), t('settings.agents.capacities'), t('settings.agents.skills'), ''],
      agents.items.map((a) => h('tr', {},
        h('th', {scope: 'row'}, a.name),
        h('td', {}, a.email),
        h('td', {}, t(`settings.role.${a.role}`)),
        h('td', {}, a.active ? t('settings.agents.active') : t('settings.agents.inactive')),
        h('td', {}, a.team_ids.map((id) => teamName.get(id) || `#${id}`).join(', ')),
        h('td', {}, capacityText(t, a.capacities)),
        h('td', {}, a.skills.join(', ')),
        h('td', {}, h('button', {
          type: 'button', 'aria-label': t('settings.agents.edit_who', {name: a.name}),
          onclick: () => edit(editor, ctx, a, reload),
        }, t('settings.edit'))))),
    ) : h('p', {}, t('settings.agents.empty')));
  };
  await reload();
}

function capacityText(t, caps) {
  const set = Object.entries(caps || {});
  return set.length ? set.map(([c, n]) => `${channelName(t, c)} ${n}`).join(', ') : t('settings.agents.default_capacity');
}

function capacityFields(t, caps) {
  const inputs = {};
  const box = h('fieldset', {class: 'st-caps'}, h('legend', {}, t('settings.agents.capacities')),
    h('small', {class: 'st-hint'}, t('settings.agents.capacity_hint')),
    ...channels().map((c) => {
      inputs[c] = input({type: 'number', min: '0', max: '1000', step: '1', inputmode: 'numeric',
        value: caps && caps[c] != null ? String(caps[c]) : '', placeholder: defaults[c] ?? '',
        'aria-label': t('settings.agents.capacity_of', {channel: channelName(t, c)})});
      return field(channelName(t, c), inputs[c]);
    }));
  const read = () => {
    const out = {};
    for (const c of Object.keys(inputs)) {
      const n = wholeNumber(inputs[c], 0, 1000);
      if (Number.isNaN(n)) return [null, inputs[c]];
      if (n !== null) out[c] = n;
    }
    return [out, null];
  };
  return {box, read};
}

// Name, role, skills and capacities: the fields creating and editing an agent share.
function profile(t, agent) {
  const name = input({value: agent.name || '', maxlength: '200'});
  const role = select(ROLES.map((r) => [r, t(`settings.role.${r}`)]), agent.role || 'agent');
  const skills = input({value: (agent.skills || []).join(', ')});
  const caps = capacityFields(t, agent.capacities);
  return {
    name,
    fields: [field(t('settings.agents.name'), name), field(t('settings.agents.role'), role)],
    more: [field(t('settings.agents.skills'), skills, t('settings.list_hint')), caps.box],
    // [body, null] or [null, [message, control]]
    read() {
      if (!name.value.trim()) return [null, [t('settings.agents.bad_name'), name]];
      const [capacities, bad] = caps.read();
      if (bad) return [null, [t('settings.agents.bad_capacity'), bad]];
      return [{name: name.value.trim(), role: role.value, capacities, skills: parseList(skills.value)}, null];
    },
  };
}

const passwordProblem = (t, el) => (el.value.length < MIN_PASSWORD
  ? [t('settings.agents.bad_password', {count: MIN_PASSWORD}), el] : null);

function createForm(ctx, done) {
  const {t} = ctx;
  const email = input({type: 'email', autocomplete: 'off'});
  const password = input({type: 'password', autocomplete: 'new-password'});
  const p = profile(t, {});
  const msg = messageLine();
  const form = h('form', {class: 'st-form'},
    field(t('settings.agents.email'), email), ...p.fields,
    field(t('settings.agents.password'), password, t('settings.agents.password_hint', {count: MIN_PASSWORD})),
    ...p.more,
    h('button', {type: 'submit'}, t('settings.agents.create')), msg.el);
  let body;
  submitter(form, msg, t, () => {
    if (!EMAIL.test(email.value.trim())) return [t('settings.agents.bad_email'), email];
    const [b, bad] = p.read();
    if (bad && bad[1] === p.name) return bad;  // in the order of the fields on screen
    body = {...b, email: email.value.trim(), password: password.value};
    return passwordProblem(t, password) || bad;
  }, async () => {
    const a = await ctx.api('POST', '/api/v1/agents', body);
    form.reset();
    msg.ok(t('settings.agents.created', {name: a.name}));
    await done();
  });
  return h('details', {class: 'st-create'}, h('summary', {}, t('settings.agents.new')), form);
}

function edit(editor, ctx, agent, done) {
  const {t} = ctx;
  clear(editor);
  const active = h('input', {type: 'checkbox', id: 'st-agent-active', checked: agent.active});
  const p = profile(t, agent);
  const msg = messageLine();
  const form = h('form', {class: 'st-form', 'aria-labelledby': 'st-edit-h'}, ...p.fields,
    h('div', {class: 'st-check'}, active, h('label', {for: 'st-agent-active'}, t('settings.agents.active'))),
    ...p.more,
    h('button', {type: 'submit'}, t('settings.save')), msg.el);
  let body;
  submitter(form, msg, t, () => {
    const [b, bad] = p.read();
    body = {...b, active: active.checked};
    return bad;
  }, async () => {
    await ctx.api('PATCH', `/api/v1/agents/${agent.id}`, body);
    msg.ok(t('settings.saved'));
    await done();
  });

  const password = input({type: 'password', autocomplete: 'new-password'});
  const pmsg = messageLine();
  const pform = h('form', {class: 'st-form'},
    field(t('settings.agents.new_password'), password, t('settings.agents.reset_hint')),
    h('button', {type: 'submit'}, t('settings.agents.reset')), pmsg.el);
  submitter(pform, pmsg, t, () => passwordProblem(t, password), async () => {
    await ctx.api('PATCH', `/api/v1/agents/${agent.id}`, {password: password.value});
    pform.reset();
    pmsg.ok(t('settings.agents.password_reset', {name: agent.name}));
  });

  editor.append(h('section', {class: 'st-card', 'aria-labelledby': 'st-edit-h'},
    h('h3', {id: 'st-edit-h', tabindex: '-1'}, t('settings.agents.editing', {name: agent.name})),
    form, pform,
    h('button', {type: 'button', onclick: () => clear(editor)}, t('settings.close'))));
  editor.querySelector('#st-edit-h').focus();
}
