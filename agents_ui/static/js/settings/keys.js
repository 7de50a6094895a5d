// Settings > API keys: create (the secret is shown once) and revoke.
import {h, clear} from '../dom.js';
import {fmtDateTime} from '../i18n.js';
import {confirmButton, copyButton, fetchInto, field, input, messageLine, problem, submitter, table} from './common.js';

export async function render(panel, ctx) {
  const {t} = ctx;
  const list = h('div', {}, h('p', {}, t('settings.loading')));
  const msg = messageLine();
  const reload = async () => {
    const keys = await fetchInto(list, t, () => ctx.api('GET', '/api/v1/api-keys'));
    if (!keys) return;
    list.append(keys.items.length ? table(
      [t('settings.keys.name'), t('settings.keys.prefix'), t('settings.keys.created'), t('settings.keys.status'), ''],
      keys.items.map((k) => h('tr', {},
        h('th', {scope: 'row'}, k.name),
        h('td', {}, h('code', {}, `${k.prefix}…`)),
        h('td', {}, fmtDateTime(k.created_at)),
        h('td', {}, k.revoked_at ? t('settings.keys.revoked_at', {when: fmtDateTime(k.revoked_at)}) : t('settings.keys.active')),
        h('td', {}, k.revoked_at ? '' : confirmButton(t('settings.keys.revoke'), t('settings.keys.revoke_which', {name: k.name}),
          t('settings.keys.revoke_confirm', {name: k.name}), async () => {
            try {
              await ctx.api('DELETE', `/api/v1/api-keys/${k.id}`);
              msg.ok(t('settings.keys.revoked', {name: k.name}));
              await reload();
            } catch (err) { msg.bad(problem(t, err)); }
          })))),
    ) : h('p', {}, t('settings.keys.empty')));
  };
  panel.append(h('h2', {}, t('settings.keys.title')), h('p', {class: 'st-hint'}, t('settings.keys.intro')),
    msg.el, list, createForm(ctx, reload));
  await reload();
}

function createForm(ctx, done) {
  const {t} = ctx;
  const name = input({maxlength: '100'});
  const msg = messageLine();
  const secret = h('div', {class: 'st-secret'});
  const form = h('form', {class: 'st-form st-inline'},
    field(t('settings.keys.name'), name), h('button', {type: 'submit'}, t('settings.keys.create')), msg.el);
  submitter(form, msg, t, () => (name.value.trim() ? null : [t('settings.keys.bad_name'), name]), async () => {
    const key = await ctx.api('POST', '/api/v1/api-keys', {name: name.value.trim()});
    form.reset();
    showSecret(secret, t, key);
    await done();
  });
  return h('section', {class: 'st-card', 'aria-labelledby': 'st-key-h'},
    h('h3', {id: 'st-key-h'}, t('settings.keys.new')), form, secret);
}

function showSecret(box, t, key) {
  clear(box);
  const value = h('input', {type: 'text', readonly: '', id: 'st-key-secret', class: 'st-mono', value: key.key});
  const [copy, copied] = copyButton(value, key.key, {copy: t('settings.keys.copy'),
    copied: t('settings.keys.copied'), byHand: t('settings.keys.copy_by_hand')});
  box.append(
    h('p', {class: 'st-msg st-warn', role: 'alert'}, t('settings.keys.once', {name: key.name})),
    h('div', {class: 'st-field'}, h('label', {for: 'st-key-secret'}, t('settings.keys.secret')), value),
    copy, copied,
    h('button', {type: 'button', onclick: () => clear(box)}, t('settings.keys.done')));
  value.focus();
  value.select();
}
