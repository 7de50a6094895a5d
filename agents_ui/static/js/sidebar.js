// The customer: name, identities on every channel, tier and language (editable), their other
// conversations on every channel, and the whole timeline. Kept live from the socket: the console
// follows this customer (a `customer` frame, agents_ui/ws_customer.py), so their events arrive even
// from conversations outside the agent's teams, and each is applied in place (test_event_replay.py
// copies these reducers); a merge into this customer and a suggested match (made or dismissed) read
// them again.
import {h, fill} from './dom.js';
import {icon} from './icons.js';
import {fmtDateTime, fmtTime} from './i18n.js';
import {explain} from './api.js';

const TIERS = ['standard', 'vip'];
const LANGS = ['', 'en', 'es'];
const TIMELINE_LIMIT = 50;  // as read: GET /contacts/{id}/timeline?limit=50
const FOLLOW_WAIT_MS = 3000;  // a hub that does not answer the customer frame: read anyway

export class Sidebar {
  constructor(el, ctx) {
    this.el = el;
    this.ctx = ctx;
    this.t = ctx.t;
    this.contactId = null;
    this.loads = 0;
    this.waiters = [];
    ctx.socket.on('customer', (frame) => this.followed(frame));
    // A new connection follows no customer and replays nothing of theirs outside the agent's
    // teams: follow again and read them again.
    ctx.socket.on('ready', () => { if (this.contactId != null) this.load(); });
    this.clear();
  }

  clear() {
    const following = this.contactId != null;
    this.contactId = null;
    this.contact = this.conversations = this.timeline = this.pending = null;
    this.loads += 1;
    if (following) this.ctx.socket.send({type: 'customer', contact_id: null});
    fill(this.el, h('p', {class: 'empty'}, this.t('customer.none')));
  }

  // The customer of the open conversation `conv`. Another customer starts from what the
  // conversation knows of them; the same one keeps what it shows while it is read again.
  async show(contact, conv) {
    this.conversationId = conv.id;
    if (this.contactId !== contact.id) {
      this.contactId = contact.id;
      this.contact = contact;
      this.conversations = this.timeline = null;
      this.build();
    }
    this.render();
    await this.load();
  }

  // Follow the customer, then read them: the events that arrive meanwhile wait in `pending` and
  // those newer than the timeline read apply on top (the contact is read after the timeline, so
  // it is at least as new; every event carries its fields' new values, so applying one that the
  // contact already had changes nothing).
  async load() {
    const id = this.contactId;
    const load = ++this.loads;
    this.pending = [];
    await this.follow(id);
    if (load !== this.loads) return;
    const timeline = await this.ctx.api('GET', `/api/v1/contacts/${id}/timeline?limit=${TIMELINE_LIMIT}`).catch(() => null);
    if (load !== this.loads) return;
    const full = await this.ctx.api('GET', `/api/v1/contacts/${id}`).catch(() => null);
    if (load !== this.loads) return;
    const pending = this.pending;
    this.pending = null;
    if (timeline) this.timeline = timeline.items;
    if (full) {
      const {conversations, ...contact} = full;
      this.contact = contact;
      this.conversations = conversations;
    }
    const cut = timeline && timeline.items.length ? timeline.items[0].id : 0;
    let again = false;
    for (const event of pending) if (event.id > cut) again = this.reduce(event) || again;
    this.render();
    if (again) this.load();
  }

  follow(contactId) {
    return new Promise((resolve) => {
      if (!this.ctx.socket.send({type: 'customer', contact_id: contactId})) { resolve(); return; }
      const done = () => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w.done !== done);
        resolve();
      };
      const timer = setTimeout(done, FOLLOW_WAIT_MS);
      this.waiters.push({contactId, done});
    });
  }

  // The hub follows `contact_id` (null: refused, the API will say why).
  followed(frame) {
    const waiter = this.waiters.find((w) => w.contactId === frame.contact_id) || (frame.contact_id == null && this.waiters[0]);
    if (waiter) waiter.done();
  }

  apply(event) {
    if (this.contactId == null || event.contact_id !== this.contactId) return;
    if (this.pending) { this.pending.push(event); return; }
    if (this.reduce(event)) this.load();
    else this.render();
  }

  // One event of this customer onto what the sidebar holds; true when it must be read again.
  reduce(event) {
    const d = event.data || {};
    const timeline = this.timeline;
    if (timeline && !timeline.some((e) => e.id === event.id)) {
      const at = timeline.findIndex((e) => e.id < event.id);
      timeline.splice(at < 0 ? timeline.length : at, 0, event);
      timeline.length = Math.min(timeline.length, TIMELINE_LIMIT);
    }
    const c = this.contact;
    if (event.type === 'contact.merged') return d.into_contact_id === this.contactId;  // their identities and conversations came
    if (event.type === 'contact.match_suggested' || event.type === 'contact.match_dismissed') return true;  // suggested_matches
    if (event.type === 'contact.updated') {
      for (const [key, [, value]] of Object.entries(d.changes || {})) c[key] = value;
    } else if (event.type === 'contact.opt_out_changed' && c.opted_out_channels) {
      const channels = new Set(c.opted_out_channels);
      if (d.opted_out) channels.add(d.channel); else channels.delete(d.channel);
      c.opted_out_channels = [...channels].sort();
      c.sms_opted_out = channels.has('sms');
    }
    const list = this.conversations;
    if (list && d.conversation && d.conversation.contact_id === this.contactId) {
      const i = list.findIndex((x) => x.id === d.conversation.id);
      if (i >= 0) list[i] = {...list[i], ...d.conversation};
      else {
        const at = list.findIndex((x) => x.id < d.conversation.id);  // newest first, as read
        list.splice(at < 0 ? list.length : at, 0, {...d.conversation});
      }
    }
    const m = d.message;
    if (list && event.type === 'message.created' && m && m.direction === 'in' && !m.automatic) {
      const conv = list.find((x) => x.id === event.conversation_id);
      if (conv) conv.last_message_at = m.created_at;
    }
    return false;
  }

  // The frame of the pane, once per customer: its parts are filled by render(), and the edit and
  // new email forms stay open while the customer's events arrive.
  build() {
    const t = this.t;
    this.nameEl = h('h2', {class: 'customer-name'});
    this.factsEl = h('dl', {class: 'facts'});
    this.newEmailEl = h('button', {type: 'button', class: 'link', dataset: {action: 'new-email'}, onClick: () => this.newEmail()},
      t('customer.new_email'));
    this.formEl = h('div', {class: 'customer-form', hidden: true});
    this.identitiesEl = h('ul', {class: 'identities'});
    this.matchesEl = h('div', {class: 'customer-matches'});
    this.matchesShown = undefined;
    this.convsEl = h('div', {class: 'customer-convs'});
    this.timelineEl = h('div', {class: 'customer-timeline'});
    fill(this.el, this.nameEl, this.factsEl,
      h('button', {type: 'button', class: 'link', onClick: () => this.edit()}, t('customer.edit')),
      this.newEmailEl, this.formEl,
      h('h3', {}, t('customer.identities')), this.identitiesEl, this.matchesEl,
      h('h3', {}, t('customer.conversations')), this.convsEl,
      h('h3', {}, t('customer.timeline')), this.timelineEl);
  }

  render() {
    const t = this.t;
    const c = this.contact;
    const idents = c.identities || [
      ...(c.email ? [{kind: 'email', address: c.email}] : []),
      ...(c.phone ? [{kind: 'phone', address: c.phone}] : [])];
    const optedOut = c.opted_out_channels || [];
    this.nameEl.textContent = c.name || t('inbox.customer', {id: c.id});
    fill(this.factsEl,
      h('dt', {}, t('customer.tier')), h('dd', {}, c.tier ? tierName(t, c.tier) : t('common.none')),
      h('dt', {}, t('customer.language')), h('dd', {}, c.language || t('common.none')),
      optedOut.length ? [h('dt', {}, t('customer.opted_out')),
        h('dd', {}, optedOut.map((ch) => t(`channel.${ch}`)).join(', '))] : null);
    this.newEmailEl.hidden = !idents.some((i) => i.kind === 'email');
    fill(this.identitiesEl, idents.map((i) => h('li', {}, h('span', {class: 'muted'}, identityKind(t, i.kind)), ' ', i.address)));
    if (this.matchesShown !== c.suggested_matches) {  // changed only by a read: kept while events arrive
      this.matchesShown = c.suggested_matches;
      fill(this.matchesEl, this.matches(c));
    }
    keepFocus(this.convsEl, () => fill(this.convsEl, this.conversations === null ? h('p', {class: 'muted'}, t('common.loading'))
      : h('ul', {class: 'other-convs'}, this.conversations.map((x) => h('li', {class: x.id === this.conversationId ? 'current' : ''},
        h('a', {href: `#/c/${x.id}`, 'aria-current': x.id === this.conversationId ? 'true' : null},
          icon(x.channel), ' ', t(`channel.${x.channel}`), ' · ', t(`status.${x.status}`), ' · ',
          h('time', {datetime: x.last_message_at || x.created_at}, fmtTime(x.last_message_at || x.created_at))))))));
    fill(this.timelineEl, this.timeline === null ? h('p', {class: 'muted'}, t('common.loading')) : h('ol', {class: 'timeline'},
      this.timeline.map((e) => h('li', {},
        h('time', {datetime: e.at, title: fmtDateTime(e.at)}, fmtTime(e.at)), ' ',
        h('span', {}, this.timelineText(e))))));
  }

  // Contacts that may be this customer (an address that came with theirs, unproven): the agent
  // merges them into this one, or says they are someone else (hub/contacts/matches.py).
  matches(c) {
    const t = this.t;
    const list = c.suggested_matches || [];
    if (!list.length) return null;
    const error = h('p', {class: 'error', role: 'alert', hidden: true});
    const act = async (button, path, body) => {
      button.disabled = true;
      error.hidden = true;
      try {
        await this.ctx.api('POST', path, body);
        this.show(this.contact, {id: this.conversationId});
      } catch (err) {
        button.disabled = false;
        error.textContent = explain(err);
        error.hidden = false;
      }
    };
    return h('section', {class: 'matches', 'aria-labelledby': 'matches-title'},
      h('h3', {id: 'matches-title'}, t('customer.matches')),
      h('p', {class: 'muted'}, t('customer.match_hint')),
      h('ul', {}, list.map((m) => {
        const who = m.name || t('inbox.customer', {id: m.contact_id});
        const merge = h('button', {type: 'button', dataset: {action: 'merge-match'},
          onClick: () => act(merge, `/api/v1/contacts/${m.contact_id}/merge`, {into: c.id})}, t('customer.match_merge'));
        const dismiss = h('button', {type: 'button', dataset: {action: 'dismiss-match'},
          'aria-label': t('customer.match_dismiss_label', {name: who}),
          onClick: () => act(dismiss, `/api/v1/contacts/${c.id}/dismiss-match`, {other: m.contact_id})}, t('customer.match_dismiss'));
        return h('li', {class: 'match', dataset: {contact: m.contact_id}},
          h('strong', {}, who), ' ',
          h('span', {class: 'muted'}, (m.identities || []).map((i) => i.address).filter((x) => x !== who).join(', ')),
          h('div', {class: 'form-bar'}, merge, dismiss));
      })),
      error);
  }

  timelineText(e) {
    const t = this.t;
    const m = e.data && e.data.message;
    if (m && (e.type === 'message.created' || e.type === 'note.created')) {
      const who = m.direction === 'in' ? t('conv.customer') : this.ctx.directory.agentName(m.author_agent_id);
      const what = e.type === 'note.created' ? t('timeline.note', {who}) : t('timeline.message', {who, channel: t(`channel.${m.channel}`)});
      return `${what}: ${(m.text || '').slice(0, 80)}`;
    }
    if (e.type === 'conversation.rated') return t('timeline.rated', {score: e.data.score});
    if (e.type === 'conversation.status_changed' && e.data.to) return t('timeline.status', {status: t(`status.${e.data.to}`)});
    if (e.type === 'delivery.status_changed') return t('timeline.delivery', {status: t(`delivery.${e.data.status}`)});
    if (e.type === 'contact.opt_out_changed') {
      return t(e.data.opted_out ? 'timeline.opted_out' : 'timeline.opted_in', {channel: t(`channel.${e.data.channel}`)});
    }
    const key = `timeline.${e.type}`;
    const text = t(key);
    return text === key ? e.type : text;
  }

  edit() {
    const t = this.t;
    const c = this.contact;
    const name = h('input', {id: 'contact-name', value: c.name || '', maxlength: 200});
    const tiers = TIERS.includes(c.tier) || !c.tier ? TIERS : [...TIERS, c.tier];
    const tier = h('select', {id: 'contact-tier'}, tiers.map((v) => h('option', {value: v, selected: c.tier === v}, tierName(t, v))));
    const lang = h('select', {id: 'contact-lang'}, LANGS.map((v) => h('option', {value: v, selected: (c.language || '') === v}, v || t('common.none'))));
    const error = h('p', {class: 'error', role: 'alert', hidden: true});
    const form = h('form', {onSubmit: async (e) => {
      e.preventDefault();
      const body = {name: name.value.trim() || null, tier: tier.value || null, language: lang.value || null};
      try {
        const updated = await this.ctx.api('PATCH', `/api/v1/contacts/${c.id}`, body);
        this.formEl.hidden = true;
        if (this.contactId !== c.id) return;
        Object.assign(this.contact, updated);
        this.render();
      } catch (err) {
        error.textContent = err.status === 404 || err.status === 405 ? t('customer.edit_unavailable') : explain(err);
        error.hidden = false;
      }
    }},
    h('label', {for: 'contact-name'}, t('customer.name')), name,
    h('label', {for: 'contact-tier'}, t('customer.tier')), tier,
    h('label', {for: 'contact-lang'}, t('customer.language')), lang,
    error,
    h('div', {class: 'form-bar'}, h('button', {type: 'submit', class: 'primary'}, t('common.save')),
      h('button', {type: 'button', onClick: () => { this.formEl.hidden = true; }}, t('common.cancel'))));
    fill(this.formEl, form);
    this.formEl.hidden = false;
    name.focus();
  }

  // An agent writing first: a new email conversation with this customer, assigned to the agent,
  // from the mailbox they pick when there is more than one (the first by default).
  async newEmail() {
    const t = this.t;
    const c = this.contact;
    const listed = await this.ctx.api('GET', '/api/v1/channels/email/sources').catch(() => null);
    const boxes = listed ? listed.items : [];
    const from = boxes.length > 1 ? h('select', {id: 'new-email-from'}, boxes.map((b, i) =>
      h('option', {value: b.address, selected: i === 0}, b.name ? `${b.name} <${b.address}>` : b.address))) : null;
    const subject = h('input', {id: 'new-email-subject', maxlength: 500});
    const cc = h('input', {id: 'new-email-cc', autocomplete: 'off'});
    const text = h('textarea', {id: 'new-email-text', rows: 5});
    const error = h('p', {class: 'error', role: 'alert', hidden: true});
    const form = h('form', {onSubmit: async (e) => {
      e.preventDefault();
      if (!text.value.trim()) { error.textContent = t('customer.new_email_empty'); error.hidden = false; text.focus(); return; }
      const body = {channel: 'email', subject: subject.value.trim() || null, text: text.value.trim(),
        cc: cc.value.split(/[,;\s]+/).filter(Boolean), ...(from ? {source: from.value} : {})};
      try {
        const started = await this.ctx.api('POST', `/api/v1/contacts/${c.id}/conversations`, body);
        this.formEl.hidden = true;
        window.location.hash = `#/c/${started.conversation.id}`;
      } catch (err) {
        error.textContent = explain(err);
        error.hidden = false;
      }
    }},
    h('h3', {}, t('customer.new_email_title', {address: c.email || ''})),
    from ? h('label', {for: 'new-email-from'}, t('email.from')) : null, from,
    h('label', {for: 'new-email-subject'}, t('email.subject')), subject,
    h('label', {for: 'new-email-cc'}, t('email.cc')), cc,
    h('label', {for: 'new-email-text'}, t('customer.new_email_text')), text,
    error,
    h('div', {class: 'form-bar'}, h('button', {type: 'submit', class: 'primary'}, t('composer.send')),
      h('button', {type: 'button', onClick: () => { this.formEl.hidden = true; }}, t('common.cancel'))));
    fill(this.formEl, form);
    this.formEl.hidden = false;
    subject.focus();
  }

}

function tierName(t, tier) {
  const text = t(`tier.${tier}`);
  return text === `tier.${tier}` ? tier : text;
}

function identityKind(t, kind) {
  const key = `identity.${kind.split(':')[0]}`;
  const text = t(key);
  return text === key ? kind : text;
}

// Re-filling `el` keeps the keyboard where it was (a link of the same conversation).
function keepFocus(el, refill) {
  const active = document.activeElement;
  const href = active && el.contains(active) ? active.getAttribute('href') : null;
  refill();
  if (href) el.querySelector(`a[href="${CSS.escape(href)}"]`)?.focus();
}
