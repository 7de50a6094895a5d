// The customer: name, identities on every channel, tier and language (editable), their other
// conversations on every channel, and the whole timeline.
import {h, fill} from './dom.js';
import {icon} from './icons.js';
import {fmtDateTime, fmtTime} from './i18n.js';

const TIERS = ['standard', 'vip'];
const LANGS = ['', 'en', 'es'];

export class Sidebar {
  constructor(el, ctx) {
    this.el = el;
    this.ctx = ctx;
    this.t = ctx.t;
    this.contactId = null;
    this.clear();
  }

  clear() {
    this.contactId = null;
    fill(this.el, h('p', {class: 'empty'}, this.t('customer.none')));
  }

  async show(contact, conv) {
    this.contactId = contact.id;
    this.conversationId = conv.id;
    this.contact = contact;
    this.render(contact, null, null);
    const [full, timeline] = await Promise.all([
      this.ctx.api('GET', `/api/v1/contacts/${contact.id}`).catch(() => null),
      this.ctx.api('GET', `/api/v1/contacts/${contact.id}/timeline?limit=50`).catch(() => null),
    ]);
    if (this.contactId !== contact.id) return;
    if (full) this.contact = full;
    this.render(this.contact, full ? full.conversations : null, timeline ? timeline.items : null);
  }

  render(c, conversations, timeline) {
    const t = this.t;
    const idents = c.identities || [
      ...(c.email ? [{kind: 'email', address: c.email}] : []),
      ...(c.phone ? [{kind: 'phone', address: c.phone}] : [])];
    fill(this.el,
      h('h2', {class: 'customer-name'}, c.name || t('inbox.customer', {id: c.id})),
      h('dl', {class: 'facts'},
        h('dt', {}, t('customer.tier')), h('dd', {}, c.tier ? tierName(t, c.tier) : t('common.none')),
        h('dt', {}, t('customer.language')), h('dd', {}, c.language || t('common.none'))),
      h('button', {type: 'button', class: 'link', onClick: () => this.edit()}, t('customer.edit')),
      idents.some((i) => i.kind === 'email')
        ? h('button', {type: 'button', class: 'link', dataset: {action: 'new-email'}, onClick: () => this.newEmail()},
          t('customer.new_email')) : null,
      this.formEl = h('div', {class: 'customer-form', hidden: true}),
      h('h3', {}, t('customer.identities')),
      h('ul', {class: 'identities'}, idents.map((i) => h('li', {}, h('span', {class: 'muted'}, identityKind(t, i.kind)), ' ', i.address))),
      this.matches(c),
      h('h3', {}, t('customer.conversations')),
      conversations === null ? h('p', {class: 'muted'}, t('common.loading')) : h('ul', {class: 'other-convs'},
        conversations.map((x) => h('li', {class: x.id === this.conversationId ? 'current' : ''},
          h('a', {href: `#/c/${x.id}`, 'aria-current': x.id === this.conversationId ? 'true' : null},
            icon(x.channel), ' ', t(`channel.${x.channel}`), ' · ', t(`status.${x.status}`), ' · ',
            h('time', {datetime: x.last_message_at || x.created_at}, fmtTime(x.last_message_at || x.created_at)))))),
      h('h3', {}, t('customer.timeline')),
      timeline === null ? h('p', {class: 'muted'}, t('common.loading')) : h('ol', {class: 'timeline'},
        timeline.map((e) => h('li', {},
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
        error.textContent = t('common.error', {message: err.message});
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
        this.contact = {...c, ...updated};
        this.show(this.contact, {id: this.conversationId});
      } catch (err) {
        error.textContent = err.status === 404 || err.status === 405 ? t('customer.edit_unavailable') : t('common.error', {message: err.message});
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
        error.textContent = t('common.error', {message: err.message});
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

  apply(event) {
    if (this.contactId == null || event.contact_id !== this.contactId) return;
    clearTimeout(this.timer);
    // A burst of the customer's events reloads the sidebar once.
    this.timer = setTimeout(() => this.show(this.contact, {id: this.conversationId}), 400);
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
