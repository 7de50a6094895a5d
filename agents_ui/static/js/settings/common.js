// Small pieces shared by the supervisor board and the settings pages.
import {h, clear} from '../dom.js';
import {explain} from '../api.js';

export const CHANNELS = ['webchat', 'sms', 'email', 'voice', 'api'];

export function channelName(t, channel) {
  const key = `supervisor.channel.${channel}`;
  const name = t(key);
  return name && name !== key ? name : channel;
}

// 75 s -> "1:15", 3 h 4 min 5 s -> "3:04:05".
export function clock(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const pad = (n) => String(n).padStart(2, '0');
  const [hh, mm, ss] = [Math.floor(s / 3600), Math.floor(s / 60) % 60, s % 60];
  return hh ? `${hh}:${pad(mm)}:${pad(ss)}` : `${mm}:${pad(ss)}`;
}

// What went wrong, in the console's language (api.js explain) when the hub answered.
export function problem(t, err) {
  return err && err.status ? explain(err) : t('settings.error.network');
}

// Fetches what a list shows; on failure the list says why, and the answer is null.
export async function fetchInto(list, t, fetch) {
  try {
    const data = await fetch();
    clear(list);
    return data;
  } catch (err) {
    clear(list);
    list.append(h('p', {class: 'st-msg st-bad', role: 'alert'}, t('settings.load_failed'), ' ', problem(t, err)));
    return null;
  }
}

export function parseList(text) {
  return [...new Set(text.split(',').map((s) => s.trim()).filter(Boolean))];
}

let seq = 0;
// A labelled form control; `hint` is read out with it.
export function field(label, input, hint) {
  input.id = input.id || `st-f${++seq}`;
  const kids = [h('label', {for: input.id}, label), input];
  if (hint) {
    const hid = `${input.id}-hint`;
    input.setAttribute('aria-describedby', hid);
    kids.push(h('small', {id: hid, class: 'st-hint'}, hint));
  }
  return h('div', {class: 'st-field'}, ...kids);
}

export function input(attrs) {
  return h('input', {type: 'text', autocomplete: 'off', ...attrs});
}

export function select(options, value) {
  const el = h('select', {}, ...options.map(([v, label]) => h('option', {value: v}, label)));
  el.value = value ?? options[0][0];
  return el;
}

// A form's message line: errors are announced at once, successes politely.
export function messageLine() {
  const el = h('p', {class: 'st-msg', role: 'status', 'aria-live': 'polite'});
  return {
    el,
    ok(text) { el.textContent = text; el.className = 'st-msg st-ok'; },
    bad(text, control) {
      el.textContent = text;
      el.className = 'st-msg st-bad';
      if (control) { control.setAttribute('aria-invalid', 'true'); control.focus(); }
    },
    clear(form) {
      el.textContent = '';
      for (const c of form.querySelectorAll('[aria-invalid]')) c.removeAttribute('aria-invalid');
    },
  };
}

// Sends a form's request: validate() returns [message, control] for the first bad field, or null.
export function submitter(form, msg, t, validate, send) {
  form.setAttribute('novalidate', '');
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    msg.clear(form);
    const bad = validate();
    if (bad) return msg.bad(bad[0], bad[1]);
    const button = form.querySelector('button[type="submit"]');
    if (button) button.disabled = true;
    try {
      await send();
    } catch (err) {
      msg.bad(problem(t, err));
    } finally {
      if (button) button.disabled = false;
    }
  });
}

// A whole number in [min, max], or null for a blank field; NaN when it is neither.
export function wholeNumber(el, min, max) {
  const v = el.value.trim();
  if (v === '') return null;
  const n = Number(v);
  return Number.isInteger(n) && n >= min && n <= max ? n : NaN;
}

export function positive(el) {
  const v = el.value.trim();
  if (v === '') return null;
  const n = Number(v);
  return Number.isFinite(n) && n > 0 ? n : NaN;
}

// A delete or revoke button that asks once more before it acts. `which` names what it acts on
// for screen readers (a table holds many "Revoke" buttons); the question names it on screen.
export function confirmButton(label, which, question, act) {
  const b = h('button', {type: 'button', class: 'st-danger', 'aria-label': which}, label);
  let armed = false;
  const disarm = () => { armed = false; b.textContent = label; b.setAttribute('aria-label', which); };
  b.addEventListener('click', async () => {
    if (!armed) {
      armed = true;
      b.textContent = question;
      b.removeAttribute('aria-label');
      return;
    }
    b.disabled = true;
    try { await act(); } finally { b.disabled = false; }
  });
  b.addEventListener('blur', disarm);
  return b;
}

export function table(headers, rows, caption) {
  return h('table', {class: 'st-table'},
    caption ? h('caption', {}, caption) : null,
    h('thead', {}, h('tr', {}, ...headers.map((x) => h('th', {scope: 'col'}, x)))),
    h('tbody', {}, ...rows));
}

// A Copy button for a read-only field: copies `text`, says so (or to copy by hand) beside it.
export function copyButton(value, text, {copy, copied, byHand, label}) {
  const said = h('span', {role: 'status', class: 'st-hint'});
  const button = h('button', {
    type: 'button',
    ...(label ? {'aria-label': label} : {}),
    onclick: async () => {
      value.select();
      try {
        await navigator.clipboard.writeText(text);
        said.textContent = copied;
      } catch {
        said.textContent = byHand;
      }
    },
  }, copy);
  return [button, said];
}
