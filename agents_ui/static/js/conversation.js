// The open conversation: header (customer, channel, status, assignee, team, SLA), the actions
// (status, snooze, assignment), the thread and the composer. Kept live from the socket.
import {h, clear, fill} from './dom.js';
import {icon} from './icons.js';
import {fmtDateTime} from './i18n.js';
import {explain} from './api.js';
import {Thread, isThreadEvent} from './thread.js';
import {Composer} from './composer.js';
import {Collision} from './collision.js';

export class ConversationPane {
  constructor(el, ctx, sidebar) {
    this.el = el;
    this.ctx = ctx;
    this.t = ctx.t;
    this.sidebar = sidebar;
    this.id = null;
    this.thread = new Thread(ctx);
    this.composer = new Composer(ctx, this);
    this.collision = new Collision(ctx);
    this.typingNote = h('p', {class: 'typing muted', 'aria-live': 'polite'});
    ctx.socket.on('typing', (hint) => this.customerTyping(hint));
    this.empty();
  }

  customerTyping(hint) {
    if (hint.who === 'agent' || hint.conversation_id !== this.id || !this.conv) return;
    this.typingNote.textContent = this.t('conv.customer_typing', {name: this.thread.author({direction: 'in'})});
    clearTimeout(this.typingTimer);
    this.typingTimer = setTimeout(() => { this.typingNote.textContent = ''; }, 5000);
  }

  get supervisor() { return ['supervisor', 'admin'].includes(this.ctx.me.role); }

  empty() {
    this.id = null;
    this.collision.open(null);
    fill(this.el, h('div', {class: 'conv-empty'}, h('p', {class: 'empty'}, this.t('conv.none'))));
  }

  async open(id) {
    if (this.id === id && this.conv) return;
    this.composer.saveDraft();
    this.id = id;
    this.conv = null;
    this.collision.open(id);
    fill(this.el, h('p', {class: 'empty', role: 'status'}, this.t('common.loading')));
    await this.reload();
  }

  async reload() {
    const id = this.id;
    if (id == null) return;
    let data;
    try {
      data = await this.ctx.api('GET', `/api/v1/conversations/${id}`);
    } catch (err) {
      if (id !== this.id) return;
      const final = err.status === 404 || err.status === 403;  // trying again changes nothing
      fill(this.el, h('div', {class: 'conv-empty', role: 'alert'},
        h('p', {class: 'error'}, explain(err)),
        final ? null : h('button', {type: 'button', onClick: () => this.reload()}, this.t('common.retry'))));
      return;
    }
    if (id !== this.id) return;
    this.conv = data.conversation;
    this.contact = data.contact;
    this.sla = ['at_risk', 'breached'].includes(this.conv.sla_state) ? this.conv.sla_state : null;
    this.thread.reset(this.conv, this.contact);
    this.header = h('header', {class: 'conv-header'});
    this.earlier = h('button', {type: 'button', class: 'link earlier', hidden: !data.next_before,
      onClick: () => this.loadEarlier()}, this.t('conv.earlier'));
    this.nextBefore = data.next_before || null;
    this.scroller = h('div', {class: 'thread-scroll'}, this.earlier, this.thread.el);
    this.typingNote.textContent = '';
    fill(this.el, this.header, this.scroller, this.typingNote, this.composer.mount(this.conv));
    this.renderHeader();
    for (const m of data.messages) this.thread.addMessage(m);
    this.composer.resetCc();
    const events = data.events || await this.pastEvents(id, this.contact.id);
    if (id !== this.id) return;
    for (const e of events) this.thread.addEvent(e);
    this.thread.scrollToBottom();
    this.sidebar.show(this.contact, this.conv);
    this.markRead();
  }

  // Before the API returned a conversation's events, its customer's timeline had them.
  async pastEvents(conversationId, contactId) {
    try {
      const page = await this.ctx.api('GET', `/api/v1/contacts/${contactId}/timeline?limit=200`);
      return page.items.filter((e) => e.conversation_id === conversationId && isThreadEvent(e.type));
    } catch {
      return [];
    }
  }

  async loadEarlier() {
    const id = this.id;
    try {
      const page = await this.ctx.api('GET', `/api/v1/conversations/${id}?before=${this.nextBefore}&limit=100`);
      if (id !== this.id) return;
      const height = this.scroller.scrollHeight;
      for (const m of page.messages) this.thread.addMessage(m);
      this.scroller.scrollTop += this.scroller.scrollHeight - height;  // keep the reader's place
      this.nextBefore = page.next_before || null;
      this.earlier.hidden = !this.nextBefore;
    } catch (err) { this.showError(err); }
  }

  markRead() {
    this.ctx.api('POST', `/api/v1/conversations/${this.id}/read`).catch(() => {});
  }

  renderHeader() {
    const t = this.t;
    const c = this.conv;
    const me = this.ctx.me.id;
    const dir = this.ctx.directory;
    const name = (this.contact && this.contact.name) || t('inbox.customer', {id: c.contact_id});
    const actions = [];
    if (c.status !== 'open') actions.push(this.button('conv.reopen', () => this.setStatus('open'), 'reopen'));
    if (c.status === 'open') actions.push(this.button('conv.pending', () => this.setStatus('pending'), 'pending'));
    if (c.status !== 'resolved') {
      actions.push(this.snoozeMenu());
      actions.push(this.button('conv.resolve', () => this.setStatus('resolved'), 'resolve', 'primary'));
    }
    const assign = [];
    if (c.assignee_id !== me) assign.push(this.button('conv.assign_me', () => this.assign(me), 'assign-me'));
    if (c.assignee_id === me) assign.push(this.button('conv.hand_back', () => this.assign(null), 'hand-back'));
    if (this.supervisor) {
      assign.push(this.picker('assign-agent', t('conv.assign_to'), dir.activeAgents().map((a) => [a.id, a.name]),
        (v) => this.assign(Number(v))));
      assign.push(this.picker('assign-team', t('conv.move_team'), [...dir.teams.values()].map((x) => [x.id, x.name]),
        (v) => this.assign(c.assignee_id, Number(v))));
    }
    this.actionsEl = h('div', {class: 'conv-actions', role: 'toolbar', 'aria-label': t('conv.actions')}, actions, assign);
    fill(this.header,
      h('div', {class: 'conv-title'},
        h('button', {type: 'button', class: 'back-link', onClick: () => this.ctx.navigate('#/inbox/' + (this.ctx.inbox.view || 'mine'))}, t('conv.back')),
        h('h2', {}, name),
        h('span', {class: 'channel'}, icon(c.channel), t(`channel.${c.channel}`),
          c.channel === 'api' && c.source ? h('span', {class: 'muted'}, ` · ${c.source}`) : null),
        h('span', {class: `status status-${c.status}`}, t(`status.${c.status}`)),
        this.collision.el,
        c.status === 'snoozed' && c.snoozed_until ? h('span', {class: 'muted'}, t('conv.until', {when: fmtDateTime(c.snoozed_until)})) : null,
        h('button', {type: 'button', class: 'customer-toggle', onClick: () => this.ctx.shell.workspace.classList.toggle('show-customer')}, t('customer.label'))),
      h('div', {class: 'conv-meta'},
        h('span', {}, t('conv.assignee'), ': ', c.assignee_id ? dir.agentName(c.assignee_id) : t('conv.nobody')),
        h('span', {}, t('conv.team'), ': ', c.team_id ? dir.teamName(c.team_id) : t('common.none')),
        c.subject ? h('span', {class: 'conv-subject'}, c.subject) : null,
        this.sla ? h('span', {class: `sla sla-${this.sla}`}, t(`conv.sla_${this.sla}`)) : null),
      this.actionsEl, this.errorEl = h('p', {class: 'error', role: 'alert', hidden: true}));
  }

  button(key, fn, name, cls) {
    return h('button', {type: 'button', class: cls, dataset: {action: name}, onClick: fn}, this.t(key));
  }

  picker(id, label, options, onPick) {
    return h('span', {class: 'picker'},
      h('label', {for: id, class: 'visually-hidden'}, label),
      h('select', {id, onChange: (e) => { if (e.target.value) onPick(e.target.value); e.target.value = ''; }},
        h('option', {value: ''}, label), options.map(([v, text]) => h('option', {value: v}, text))));
  }

  snoozeMenu() {
    const t = this.t;
    const menu = h('div', {class: 'menu', role: 'group', 'aria-label': t('conv.snooze'), hidden: true});
    const at = (d) => () => { menu.hidden = true; this.setStatus('snoozed', d()); };
    const custom = h('input', {type: 'datetime-local', 'aria-label': t('snooze.custom')});
    fill(menu,
      h('button', {type: 'button', onClick: at(() => new Date(Date.now() + 3600e3))}, t('snooze.hour')),
      h('button', {type: 'button', onClick: at(() => nextAt(1, 9))}, t('snooze.tomorrow')),
      h('button', {type: 'button', onClick: at(() => nextMonday(9))}, t('snooze.monday')),
      h('span', {class: 'menu-custom'}, custom, h('button', {type: 'button', onClick: () => {
        if (!custom.value) { custom.focus(); return; }
        menu.hidden = true;
        this.setStatus('snoozed', new Date(custom.value));
      }}, t('conv.snooze'))));
    const toggle = h('button', {type: 'button', 'aria-expanded': 'false', dataset: {action: 'snooze'}, onClick: () => {
      menu.hidden = !menu.hidden;
      toggle.setAttribute('aria-expanded', String(!menu.hidden));
      if (!menu.hidden) menu.querySelector('button').focus();
    }}, t('conv.snooze'), ' ▾');
    this.snoozeToggle = toggle;
    return h('span', {class: 'menu-wrap'}, toggle, menu);
  }

  openSnooze() { if (this.snoozeToggle) this.snoozeToggle.click(); }

  showError(err) {
    if (!this.errorEl) return;
    this.errorEl.textContent = explain(err);
    this.errorEl.hidden = false;
  }

  async setStatus(status, until) {
    const body = {status};
    if (until) body.snoozed_until = until.toISOString();
    try {
      const conv = await this.ctx.api('POST', `/api/v1/conversations/${this.id}/status`, body);
      this.update(conv);
      this.ctx.announce(this.t('conv.status_now', {status: this.t(`status.${conv.status}`)}));
    } catch (err) { this.showError(err); }
  }

  async assign(assigneeId, teamId) {
    const body = {assignee_id: assigneeId};
    if (teamId !== undefined) body.team_id = teamId;
    try {
      const conv = await this.ctx.api('POST', `/api/v1/conversations/${this.id}/assign`, body);
      this.update(conv);
    } catch (err) { this.showError(err); }
  }

  update(conv) {
    if (!this.conv || conv.id !== this.id) return;
    const focused = document.activeElement && this.header.contains(document.activeElement) ? document.activeElement.dataset.action : null;
    this.conv = {...this.conv, ...conv};
    this.renderHeader();
    this.composer.setConversation(this.conv);
    if (focused) this.header.querySelector(`[data-action="${focused}"]`)?.focus();
  }

  apply(event) {
    if (this.id == null || !this.conv) return;
    const d = event.data || {};
    // A merge moved this conversation to another customer: read it again (header, thread, sidebar).
    if (event.type === 'contact.merged' && (d.conversation_ids || []).includes(this.id)) {
      this.reload();
      return;
    }
    if (event.type === 'contact.updated' && this.contact && d.contact_id === this.contact.id) {
      for (const [key, [, value]] of Object.entries(d.changes || {})) this.contact[key] = value;
      this.renderHeader();
      return;
    }
    if (event.conversation_id !== this.id) return;
    if ((event.type === 'message.created' || event.type === 'note.created') && d.message) {
      if (d.message.direction === 'in') this.typingNote.textContent = '';
      else if (d.message.author_agent_id) this.collision.sent(d.message.author_agent_id);
      const fresh = !this.thread.messages.has(d.message.id);
      this.thread.addMessage(d.message);
      // As the inbox row: the customer's last message, an automatic one (an out-of-office) aside.
      if (d.message.direction === 'in' && !d.message.automatic) this.conv.last_message_at = d.message.created_at;
      if (fresh && d.message.direction === 'in') {
        this.ctx.announce(this.t('conv.new_message', {name: this.thread.author(d.message)}));
        if (!document.hidden) this.markRead();
      }
    } else if ((event.type === 'delivery.status_changed' || event.type === 'delivery.retried') && d.message) {
      this.thread.updateMessage(d.message);
    } else if (event.type === 'delivery.retry_scheduled') {
      this.thread.updateMessage({id: d.message_id, delivery_error: `retrying: ${d.error}`});
    }
    if (event.type.startsWith('sla.')) this.sla = event.type.slice(4);
    if (isThreadEvent(event.type) || event.type === 'receipt.customer_read') this.thread.addEvent(event);
    if (d.conversation) this.update(d.conversation);
    else if (event.type.startsWith('sla.')) this.renderHeader();
  }
}

function nextAt(days, hour) {
  const d = new Date();
  d.setDate(d.getDate() + days);
  d.setHours(hour, 0, 0, 0);
  return d;
}

function nextMonday(hour) {
  const d = new Date();
  const add = ((8 - d.getDay()) % 7) || 7;
  d.setDate(d.getDate() + add);
  d.setHours(hour, 0, 0, 0);
  return d;
}
