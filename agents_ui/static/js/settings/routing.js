// Settings > Routing rules: the config file's (read only) and the database's (add, delete).
import {h, clear} from '../dom.js';
import {
  CHANNELS, channelName, confirmButton, fetchInto, field, input, messageLine, parseList, problem, select, submitter, table,
  wholeNumber,
} from './common.js';

const LISTS = ['tier', 'language', 'source', 'keywords'];

function conditions(t, match) {
  const parts = Object.entries(match || {}).filter(([, v]) => v && v.length).map(([k, v]) => {
    const values = k === 'channel' ? v.map((c) => channelName(t, c)) : v;
    return `${t(`settings.routing.match_${k}`)}: ${values.join(', ')}`;
  });
  return parts.length ? parts.join(' · ') : t('settings.routing.match_all');
}

export async function render(panel, ctx) {
  const {t} = ctx;
  const list = h('div', {}, h('p', {}, t('settings.loading')));
  const msg = messageLine();
  let teams = [];
  const teamName = (id) => (id == null ? '–' : (teams.find((x) => x.id === id) || {name: `#${id}`}).name);
  const reload = async () => {
    const got = await fetchInto(list, t, () => Promise.all([ctx.api('GET', '/api/v1/routing/rules'), ctx.api('GET', '/api/v1/teams')]));
    if (!got) return;
    const [rules, tm] = got;
    teams = tm.items;
    const head = [t('settings.routing.position'), t('settings.routing.name'), t('settings.routing.conditions'),
      t('settings.routing.team'), t('settings.routing.priority'), t('settings.routing.skill')];
    if (rules.config.length) {
      list.append(table(head, rules.config.map((r, i) => h('tr', {},
        h('td', {class: 'num'}, String(i + 1)), h('th', {scope: 'row'}, r.name), h('td', {}, conditions(t, r.match)),
        h('td', {}, r.team || '–'), h('td', {class: 'num'}, String(r.priority || 0)), h('td', {}, r.skill || '–'))),
      t('settings.routing.from_config')));
    }
    list.append(rules.items.length ? table([...head, ''], rules.items.map((r) => h('tr', {},
      h('td', {class: 'num'}, String(r.position)), h('th', {scope: 'row'}, r.name), h('td', {}, conditions(t, r.match)),
      h('td', {}, teamName(r.team_id)), h('td', {class: 'num'}, String(r.priority)), h('td', {}, r.skill || '–'),
      h('td', {}, confirmButton(t('settings.routing.delete'), t('settings.routing.delete_which', {name: r.name}),
        t('settings.routing.delete_confirm', {name: r.name}),
        async () => {
          try {
            await ctx.api('DELETE', `/api/v1/routing/rules/${r.id}`);
            msg.ok(t('settings.routing.deleted', {name: r.name}));
            await reload();
          } catch (err) { msg.bad(problem(t, err)); }
        })))), t('settings.routing.from_settings'))
      : h('p', {}, t('settings.routing.empty')));
    form.refreshTeams(teams);
  };
  const form = createForm(ctx, reload);
  panel.append(h('h2', {}, t('settings.routing.title')), h('p', {class: 'st-hint'}, t('settings.routing.intro')),
    msg.el, list, form.el);
  await reload();
}

function createForm(ctx, done) {
  const {t} = ctx;
  const name = input({maxlength: '100'});
  const position = input({type: 'number', step: '1', value: '0'});
  const team = select([['', t('settings.routing.no_team')]], '');
  const priority = input({type: 'number', step: '1', min: '-100', max: '100', value: '0'});
  const skill = input({maxlength: '64'});
  const channels = Object.fromEntries(CHANNELS.map((c) => [c, h('input', {type: 'checkbox', id: `st-rc-${c}`, value: c})]));
  const lists = Object.fromEntries(LISTS.map((k) => [k, input({})]));
  const msg = messageLine();
  const form = h('form', {class: 'st-form'},
    field(t('settings.routing.name'), name),
    field(t('settings.routing.position'), position, t('settings.routing.position_hint')),
    field(t('settings.routing.team'), team),
    field(t('settings.routing.priority'), priority, t('settings.routing.priority_hint')),
    field(t('settings.routing.skill'), skill),
    h('fieldset', {class: 'st-grid'}, h('legend', {}, t('settings.routing.conditions')),
      h('small', {class: 'st-hint'}, t('settings.routing.match_hint')),
      h('fieldset', {class: 'st-row'}, h('legend', {}, t('settings.routing.match_channel')),
        ...CHANNELS.map((c) => h('span', {class: 'st-check'}, channels[c], h('label', {for: `st-rc-${c}`}, channelName(t, c))))),
      ...LISTS.map((k) => field(t(`settings.routing.match_${k}`), lists[k]))),
    h('button', {type: 'submit'}, t('settings.routing.add')), msg.el);
  let body;
  submitter(form, msg, t, () => {
    if (!name.value.trim()) return [t('settings.routing.bad_name'), name];
    const pos = wholeNumber(position, -1e6, 1e6);
    if (Number.isNaN(pos)) return [t('settings.routing.bad_position'), position];
    const prio = wholeNumber(priority, -100, 100);
    if (Number.isNaN(prio)) return [t('settings.routing.bad_priority'), priority];
    const match = {channel: CHANNELS.filter((c) => channels[c].checked)};
    for (const k of LISTS) match[k] = parseList(lists[k].value);
    body = {name: name.value.trim(), position: pos ?? 0, priority: prio ?? 0, match,
      team_id: team.value ? Number(team.value) : null, skill: skill.value.trim() || null};
    return null;
  }, async () => {
    const rule = await ctx.api('POST', '/api/v1/routing/rules', body);
    form.reset();
    msg.ok(t('settings.routing.added', {name: rule.name}));
    await done();
  });
  return {
    el: h('section', {class: 'st-card', 'aria-labelledby': 'st-rule-h'}, h('h3', {id: 'st-rule-h'}, t('settings.routing.new')), form),
    refreshTeams(teams) {
      const keep = team.value;
      clear(team);
      team.append(h('option', {value: ''}, t('settings.routing.no_team')),
        ...teams.map((x) => h('option', {value: String(x.id)}, x.name)));
      team.value = teams.some((x) => String(x.id) === keep) ? keep : '';
    },
  };
}
