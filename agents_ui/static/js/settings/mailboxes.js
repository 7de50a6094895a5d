// Settings > Mailboxes: support addresses, their SMTP (out) and IMAP (in) servers, "Test connection".
// Passwords are write-only: blank keeps the stored one; the list only says whether one is kept.
import {h, clear} from '../dom.js';
import {confirmButton, fetchInto, field, input, messageLine, problem, select, submitter, wholeNumber} from './common.js';

const SECURITY = ['tls', 'starttls', 'none'];

export async function render(panel, ctx) {
  const {t} = ctx;
  const list = h('div', {}, h('p', {}, t('settings.loading')));
  const msg = messageLine();
  const editor = h('div');
  const reload = async () => {
    const boxes = await fetchInto(list, t, () => ctx.api('GET', '/api/v1/admin/mailboxes'));
    if (!boxes) return;
    list.append(boxes.items.length
      ? h('ul', {class: 'st-list'}, ...boxes.items.map((b) => item(ctx, b, msg, reload, editor)))
      : h('p', {}, t('settings.mailboxes.empty')));
  };
  panel.append(h('h2', {}, t('settings.mailboxes.title')), h('p', {class: 'st-hint'}, t('settings.mailboxes.intro')),
    msg.el, list,
    h('button', {type: 'button', onclick: () => edit(ctx, editor, null, reload)}, t('settings.mailboxes.add')),
    editor);
  await reload();
}

function item(ctx, box, msg, reload, editor) {
  const {t} = ctx;
  const results = h('ul', {class: 'st-checks', 'aria-live': 'polite'});
  const test = h('button', {type: 'button'}, t('settings.mailboxes.test'));
  test.addEventListener('click', async () => {
    test.disabled = true;
    clear(results);
    results.append(h('li', {}, t('settings.mailboxes.testing')));
    try {
      const lang = document.documentElement.lang === 'es' ? 'es' : 'en';
      const answer = await ctx.api('POST', `/api/v1/admin/mailboxes/${box.id}/check?lang=${lang}`);
      clear(results);
      for (const c of answer.items) {
        results.append(h('li', {class: c.ok ? 'st-ok' : 'st-bad'},
          h('strong', {}, c.ok ? t('settings.mailboxes.works') : t('settings.mailboxes.problem')), ' ', c.text,
          c.detail ? h('small', {class: 'st-hint'}, ` (${c.detail})`) : null));
      }
    } catch (err) {
      clear(results);
      results.append(h('li', {class: 'st-bad'}, problem(t, err)));
    } finally { test.disabled = false; }
  });
  const how = box.imap ? t('settings.mailboxes.via_imap', {host: box.imap.host}) : t('settings.mailboxes.via_relay');
  return h('li', {class: 'st-card'},
    h('h3', {}, box.display_name ? `${box.display_name} <${box.address}>` : box.address),
    h('p', {class: 'st-hint'}, t('settings.mailboxes.out', {host: box.smtp.host, port: box.smtp.port}), ' · ', how),
    h('button', {type: 'button', onclick: () => edit(ctx, editor, box, reload)}, t('settings.mailboxes.edit')),
    test,
    confirmButton(t('settings.mailboxes.remove'), t('settings.mailboxes.remove_which', {address: box.address}),
      t('settings.mailboxes.remove_confirm', {address: box.address}), async () => {
        try {
          await ctx.api('DELETE', `/api/v1/admin/mailboxes/${box.id}`);
          msg.ok(t('settings.mailboxes.removed', {address: box.address}));
          await reload();
        } catch (err) { msg.bad(problem(t, err)); }
      }),
    results);
}

function server(t, kind, stored, defaults) {
  const s = stored || defaults;
  const c = {
    host: input({value: s.host || '', maxlength: '253'}),
    port: input({value: String(s.port || defaults.port), inputmode: 'numeric', maxlength: '5'}),
    security: select(SECURITY.map((v) => [v, t(`settings.mailboxes.security.${v}`)]), s.security || defaults.security),
    username: input({value: s.username || '', maxlength: '320'}),
    password: h('input', {type: 'password', autocomplete: 'new-password', maxlength: '1000'}),
  };
  if (kind === 'imap') {
    c.folder = input({value: s.folder || 'INBOX', maxlength: '200'});
    c.sentFolder = input({value: s.sent_folder || 'Sent', maxlength: '200'});
    c.appendSent = h('input', {type: 'checkbox'});
    c.appendSent.checked = Boolean(s.append_sent);
  }
  const kept = stored && stored.password_set ? t('settings.mailboxes.password_kept') : t('settings.mailboxes.password_none');
  const fields = h('fieldset', {class: 'st-fieldset'}, h('legend', {}, t(`settings.mailboxes.${kind}`)),
    field(t('settings.mailboxes.host'), c.host), field(t('settings.mailboxes.port'), c.port),
    field(t('settings.mailboxes.security'), c.security), field(t('settings.mailboxes.username'), c.username),
    field(t('settings.mailboxes.password'), c.password, kept),
    c.folder ? field(t('settings.mailboxes.folder'), c.folder) : null,
    c.sentFolder ? field(t('settings.mailboxes.sent_folder'), c.sentFolder, t('settings.mailboxes.sent_folder_hint')) : null,
    c.appendSent ? h('label', {class: 'st-check'}, c.appendSent, ' ', t('settings.mailboxes.append_sent')) : null);
  const value = () => {
    const out = {host: c.host.value.trim(), port: wholeNumber(c.port, 1, 65535), security: c.security.value,
      username: c.username.value.trim() || null};
    if (c.password.value) out.password = c.password.value;
    if (c.folder) out.folder = c.folder.value.trim() || 'INBOX';
    if (c.sentFolder) out.sent_folder = c.sentFolder.value.trim() || 'Sent';
    if (c.appendSent) out.append_sent = c.appendSent.checked;
    return out;
  };
  return {c, fields, value};
}

function edit(ctx, editor, box, done) {
  const {t} = ctx;
  clear(editor);
  const b = box || {};
  const address = input({type: 'email', value: b.address || '', maxlength: '320'});
  const name = input({value: b.display_name || '', maxlength: '200'});
  const signature = h('textarea', {rows: '3', maxlength: '4000'});
  signature.value = b.signature || '';
  const language = select([['en', 'English'], ['es', 'Español']], b.language || 'en');
  const authservId = input({value: b.authserv_id || '', maxlength: '253', placeholder: 'mx.example.com'});
  const smtp = server(t, 'smtp', b.smtp, {port: 587, security: 'starttls'});
  const imap = server(t, 'imap', b.imap, {port: 993, security: 'tls'});
  const useImap = h('input', {type: 'checkbox'});
  useImap.checked = Boolean(b.imap);
  const toggle = () => { imap.fields.hidden = !useImap.checked; };
  useImap.addEventListener('change', toggle);
  toggle();
  const msg = messageLine();
  const form = h('form', {class: 'st-form', 'aria-labelledby': 'st-mb-h'},
    h('h3', {id: 'st-mb-h'}, box ? t('settings.mailboxes.editing', {address: box.address}) : t('settings.mailboxes.new')),
    field(t('settings.mailboxes.address'), address), field(t('settings.mailboxes.name'), name),
    field(t('settings.mailboxes.signature'), signature), field(t('settings.mailboxes.language'), language),
    field(t('settings.mailboxes.authserv_id'), authservId, t('settings.mailboxes.authserv_id_hint')),
    smtp.fields,
    h('label', {class: 'st-check'}, useImap, ' ', t('settings.mailboxes.use_imap')),
    imap.fields,
    h('button', {type: 'submit'}, t('settings.mailboxes.save')),
    h('button', {type: 'button', onclick: () => clear(editor)}, t('settings.mailboxes.cancel')), msg.el);
  submitter(form, msg, t, () => {
    if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(address.value.trim())) return [t('settings.mailboxes.bad_address'), address];
    for (const s of useImap.checked ? [smtp, imap] : [smtp]) {
      if (!s.c.host.value.trim()) return [t('settings.mailboxes.bad_host'), s.c.host];
      if (!Number.isInteger(wholeNumber(s.c.port, 1, 65535))) return [t('settings.mailboxes.bad_port'), s.c.port];
    }
    if (useImap.checked && !imap.c.username.value.trim()) return [t('settings.mailboxes.bad_user'), imap.c.username];
    return null;
  }, async () => {
    const body = {address: address.value.trim(), display_name: name.value.trim(), signature: signature.value,
      language: language.value, authserv_id: authservId.value.trim(), smtp: smtp.value(), imap: useImap.checked ? imap.value() : null};
    if (box) await ctx.api('PUT', `/api/v1/admin/mailboxes/${box.id}`, body);
    else await ctx.api('POST', '/api/v1/admin/mailboxes', body);
    clear(editor);
    await done();
  });
  editor.append(form);
  address.focus();
}
