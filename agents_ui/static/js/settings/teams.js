// Settings > Teams: create, members, and each team's queue settings (offers, escalation, SLA, hours).
import {h, clear} from '../dom.js';
import {
  confirmButton, fetchInto, field, input, messageLine, positive, problem, select, submitter, table,
} from './common.js';

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const SPAN = /^(\d{2}):(\d{2})-(\d{2}):(\d{2})$/;
const SLA_TARGETS = ['first_response', 'next_response', 'resolution'];

export async function render(panel, ctx) {
  const {t} = ctx;
  const list = h('div', {}, h('p', {}, t('settings.loading')));
  const detail = h('div', {class: 'st-editor'});
  const state = {open: null};
  // again: rebuild the open team's panel too (members changed), not after its settings were saved.
  const reload = async (again = true) => {
    const got = await fetchInto(list, t, () => Promise.all([ctx.api('GET', '/api/v1/teams'), ctx.api('GET', '/api/v1/agents')]));
    if (!got) return;
    const [teams, agents] = got;
    list.append(teams.items.length ? table(
      [t('settings.teams.name'), t('settings.teams.members'), ''],
      teams.items.map((team) => h('tr', {},
        h('th', {scope: 'row'}, team.name),
        h('td', {}, String(team.member_ids.length)),
        h('td', {}, h('button', {
          type: 'button', 'aria-label': t('settings.teams.manage_which', {name: team.name}),
          onclick: () => { state.open = team.id; manage(detail, ctx, team, teams.items, agents.items, reload); },
        }, t('settings.teams.manage'))))),
    ) : h('p', {}, t('settings.teams.empty')));
    const open = teams.items.find((x) => x.id === state.open);
    if (open && again) manage(detail, ctx, open, teams.items, agents.items, reload);
  };
  panel.append(h('h2', {}, t('settings.teams.title')), list, detail, createForm(ctx, reload));
  await reload();
}

function createForm(ctx, done) {
  const {t} = ctx;
  const name = input({maxlength: '100'});
  const msg = messageLine();
  const form = h('form', {class: 'st-form st-inline'},
    field(t('settings.teams.name'), name), h('button', {type: 'submit'}, t('settings.teams.create')), msg.el);
  submitter(form, msg, t, () => (name.value.trim() ? null : [t('settings.teams.bad_name'), name]), async () => {
    const team = await ctx.api('POST', '/api/v1/teams', {name: name.value.trim()});
    form.reset();
    msg.ok(t('settings.teams.created', {name: team.name}));
    await done();
  });
  return h('details', {class: 'st-create'}, h('summary', {}, t('settings.teams.new')), form);
}

function manage(detail, ctx, team, teams, agents, done) {
  const {t} = ctx;
  clear(detail);
  const names = new Map(agents.map((a) => [a.id, a.name]));
  const msg = messageLine();
  const members = h('ul', {class: 'st-members'}, ...team.member_ids.map((id) => h('li', {},
    h('span', {}, names.get(id) || `#${id}`), ' ',
    confirmButton(t('settings.teams.remove'), t('settings.teams.remove_which', {name: names.get(id) || `#${id}`}),
      t('settings.teams.remove_confirm', {name: names.get(id) || `#${id}`}),
      async () => {
        try {
          await ctx.api('DELETE', `/api/v1/teams/${team.id}/members/${id}`);
          await done();
        } catch (err) { msg.bad(problem(t, err)); }
      }))));
  const outside = agents.filter((a) => !team.member_ids.includes(a.id));
  const pick = select([['', t('settings.teams.pick_agent')], ...outside.map((a) => [String(a.id), a.name])], '');
  const add = h('form', {class: 'st-form st-inline'},
    field(t('settings.teams.add_member'), pick), h('button', {type: 'submit'}, t('settings.teams.add')), msg.el);
  submitter(add, msg, t, () => (pick.value ? null : [t('settings.teams.bad_agent'), pick]), async () => {
    await ctx.api('POST', `/api/v1/teams/${team.id}/members`, {agent_id: Number(pick.value)});
    await done();
  });
  detail.append(h('section', {class: 'st-card', 'aria-labelledby': 'st-team-h'},
    h('h3', {id: 'st-team-h', tabindex: '-1'}, t('settings.teams.managing', {name: team.name})),
    h('h4', {}, t('settings.teams.members')),
    team.member_ids.length ? members : h('p', {}, t('settings.teams.no_members')),
    add,
    settingsForm(ctx, team, teams, done),
    h('button', {type: 'button', onclick: () => clear(detail)}, t('settings.close'))));
  detail.querySelector('#st-team-h').focus();
}

const minutes = (s) => (s == null ? '' : String(Math.round((s / 60) * 100) / 100));

function settingsForm(ctx, team, teams, done) {
  const {t} = ctx;
  const s = team.settings || {};
  const sla = s.sla || {};
  const def = sla.default || {};
  const offer = input({type: 'number', min: '1', step: 'any', value: s.offer_timeout_seconds ?? ''});
  const escalate = input({type: 'number', min: '0', step: 'any', value: minutes(s.escalate_after_seconds)});
  const overflow = select([['', t('settings.teams.none')],
    ...teams.filter((x) => x.id !== team.id).map((x) => [x.name, x.name])], s.overflow_team || '');
  const skill = input({value: s.overflow_skill || '', maxlength: '64'});
  const targets = Object.fromEntries(SLA_TARGETS.map((k) => [k, input({type: 'number', min: '0', step: 'any', value: minutes(def[k])})]));
  const warn = input({type: 'number', min: '0', step: 'any', value: minutes(sla.warn_before)});
  const hours = s.business_hours || {};
  const tz = input({value: hours.timezone || '', placeholder: 'Europe/Madrid'});
  const days = Object.fromEntries(DAYS.map((d) => [d, input({value: ((hours.days || {})[d] || []).join(', ')})]));
  const msg = messageLine();
  const form = h('form', {class: 'st-form'},
    h('h4', {}, t('settings.teams.settings')),
    h('p', {class: 'st-hint'}, t('settings.teams.blank_hint')),
    h('fieldset', {class: 'st-grid'}, h('legend', {}, t('settings.teams.routing')),
      field(t('settings.teams.offer_timeout'), offer, t('settings.teams.offer_hint')),
      field(t('settings.teams.escalate_after'), escalate),
      field(t('settings.teams.overflow_team'), overflow),
      field(t('settings.teams.overflow_skill'), skill)),
    h('fieldset', {class: 'st-grid'}, h('legend', {}, t('settings.teams.sla')),
      ...SLA_TARGETS.map((k) => field(t(`settings.teams.sla_${k}`), targets[k])),
      field(t('settings.teams.warn_before'), warn)),
    h('fieldset', {class: 'st-grid'}, h('legend', {}, t('settings.teams.hours')),
      h('small', {class: 'st-hint'}, t('settings.teams.hours_hint')),
      field(t('settings.teams.timezone'), tz),
      ...DAYS.map((d) => field(t(`settings.day.${d}`), days[d]))),
    h('button', {type: 'submit'}, t('settings.save')), msg.el);
  let body;
  submitter(form, msg, t, () => {
    body = {};
    const o = positive(offer);
    if (Number.isNaN(o)) return [t('settings.teams.bad_number'), offer];
    if (o) body.offer_timeout_seconds = o;
    const e = positive(escalate);
    if (Number.isNaN(e)) return [t('settings.teams.bad_number'), escalate];
    if (e) body.escalate_after_seconds = e * 60;
    if (overflow.value) body.overflow_team = overflow.value;
    if (skill.value.trim()) body.overflow_skill = skill.value.trim();
    // Priority-specific SLA blocks have no form yet: keep them as they are.
    const newSla = Object.fromEntries(Object.entries(sla).filter(([k]) => k !== 'default' && k !== 'warn_before'));
    const d = {};
    for (const k of [...SLA_TARGETS, 'warn']) {
      const el = k === 'warn' ? warn : targets[k];
      const v = positive(el);
      if (Number.isNaN(v)) return [t('settings.teams.bad_number'), el];
      if (v && k === 'warn') newSla.warn_before = v * 60;
      else if (v) d[k] = v * 60;
    }
    if (Object.keys(d).length) newSla.default = d;
    if (Object.keys(newSla).length) body.sla = newSla;
    const spans = {};
    for (const day of DAYS) {
      const parts = days[day].value.split(',').map((x) => x.trim()).filter(Boolean);
      for (const p of parts) {
        const m = p.match(SPAN);
        // The hub reads each end as an ISO time of day (00:00 to 23:59), as this pattern does.
        if (!m || `${m[3]}:${m[4]}` <= `${m[1]}:${m[2]}` || Number(m[1]) > 23 || Number(m[3]) > 23
          || Number(m[2]) > 59 || Number(m[4]) > 59) {
          return [t('settings.teams.bad_span', {span: p}), days[day]];
        }
      }
      if (parts.length) spans[day] = parts;
    }
    const zone = tz.value.trim();
    if (zone) {
      try { new Intl.DateTimeFormat('en', {timeZone: zone}); } catch { return [t('settings.teams.bad_timezone'), tz]; }
    }
    if (Object.keys(spans).length) body.business_hours = {timezone: zone || 'UTC', days: spans};
    else if (zone) return [t('settings.teams.hours_need_days'), days.mon];
    return null;
  }, async () => {
    await ctx.api('PUT', `/api/v1/teams/${team.id}/settings`, body);
    msg.ok(t('settings.saved'));
    await done(false);
  });
  return form;
}
