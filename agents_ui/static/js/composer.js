// The reply box: Reply | Note tabs, @mentions on notes (a picker of agents), canned responses
// inserted by typing "/" (GET /api/v1/canned), drafts kept per conversation in localStorage (the
// text only; the session never leaves its HttpOnly cookie), and a client_id per send so a retry
// after a lost answer is stored once. Files are uploaded as soon as they are picked (POST
// /api/v1/attachments) and go with the next reply as chips the agent can remove.
import {h, fill} from './dom.js';
import {fmtSize} from './i18n.js';
import {explain} from './api.js';
import {smsSegments} from './sms.js';

const ENTER_SENDS = new Set(['webchat', 'sms', 'api', 'voice']);

export class Composer {
  constructor(ctx, pane) {
    this.ctx = ctx;
    this.t = ctx.t;
    this.pane = pane;
    this.mode = 'reply';
    this.mentions = new Map();
    this.canned = null;
    this.pending = null;
    this.picker = null;
    this.files = [];
  }

  draftKey(mode = this.mode) {
    return this.conv ? `hub.draft.${this.ctx.me.id}.${this.conv.id}.${mode}` : null;
  }

  mount(conv) {
    const t = this.t;
    this.conv = conv;
    this.canned = null;
    this.pending = null;
    this.tabs = ['reply', 'note'].map((mode) => h('button', {type: 'button', role: 'tab', id: `tab-${mode}`,
      'aria-controls': 'composer-text', dataset: {mode}, onClick: () => this.setMode(mode)}, t(`composer.${mode}`)));
    this.text = h('textarea', {id: 'composer-text', rows: 3, 'aria-labelledby': 'composer-label',
      onInput: () => this.changed(), onKeydown: (e) => this.keydown(e)});
    this.label = h('span', {id: 'composer-label', class: 'visually-hidden'});
    this.hint = h('span', {class: 'composer-hint muted'});
    this.error = h('p', {class: 'error', role: 'alert', hidden: true});
    this.popup = h('ul', {class: 'popup', role: 'listbox', hidden: true, id: 'composer-popup', 'aria-label': t('composer.suggestions')});
    this.files = [];
    this.fileInput = h('input', {type: 'file', multiple: true, hidden: true, id: 'composer-file',
      onChange: () => this.attach([...this.fileInput.files])});
    this.attachButton = h('button', {type: 'button', class: 'attach', onClick: () => this.fileInput.click()}, t('composer.attach'));
    this.chips = h('ul', {class: 'chips', 'aria-label': t('composer.attachments'), hidden: true});
    // Email: copies, and a plain-text preview of what the customer will read.
    this.cc = h('input', {type: 'text', id: 'composer-cc', autocomplete: 'off', placeholder: t('composer.cc_placeholder'),
      onInput: () => this.updatePreview()});
    this.ccRow = h('div', {class: 'composer-cc'}, h('label', {for: 'composer-cc'}, t('composer.cc')), this.cc);
    this.preview = h('pre', {class: 'composer-preview', id: 'composer-preview', hidden: true, 'aria-live': 'polite'});
    this.previewButton = h('button', {type: 'button', 'aria-controls': 'composer-preview', 'aria-expanded': 'false',
      onClick: () => { this.preview.hidden = !this.preview.hidden; this.updatePreview(); }}, t('composer.preview'));
    this.sendButton = h('button', {type: 'submit', class: 'primary'}, t('composer.send'));
    this.sendResolve = h('button', {type: 'button', onClick: () => this.send(true)}, t('composer.send_resolve'));
    this.form = h('form', {class: 'composer', 'aria-label': t('composer.label'), onSubmit: (e) => { e.preventDefault(); this.send(false); }},
      h('div', {class: 'tabs', role: 'tablist', 'aria-label': t('composer.label')}, this.tabs),
      this.label, this.ccRow, this.popup, this.text, this.chips, this.preview, this.error,
      h('div', {class: 'composer-bar'}, this.attachButton, this.fileInput, this.previewButton, this.hint,
        h('span', {class: 'spacer'}),
        this.sendResolve, this.sendButton));
    this.setMode(localStorage.getItem(this.draftKey('note')) && !localStorage.getItem(this.draftKey('reply')) ? 'note' : 'reply');
    return this.form;
  }

  // Tells the others who have this conversation open that a reply or a note is being typed, and
  // the customer's widget that a reply is (a note never reaches it): one hint every 2.5 s.
  typing() {
    const now = Date.now();
    if (!this.conv || !this.text.value.trim() || now - (this.typedAt || 0) < 2500) return;
    this.typedAt = now;
    this.ctx.socket.send({type: 'typing', conversation_id: this.conv.id, mode: this.mode});
  }

  setConversation(conv) { this.conv = conv; this.updateHint(); this.showEmail(); }

  isEmailReply() { return Boolean(this.conv && this.conv.channel === 'email' && this.mode === 'reply'); }

  showEmail() {
    if (!this.ccRow) return;
    const on = this.isEmailReply();
    this.ccRow.hidden = !on;
    this.previewButton.hidden = !on;
    if (!on) this.preview.hidden = true;
    this.updatePreview();
  }

  // Reply all: the others on the customer's last mail (not the customer, nor any of the hub's
  // mailboxes, even plus-addressed: the hub would take its own reply in as a customer's mail).
  async resetCc() {
    if (!this.cc || !this.isEmailReply()) return;
    const conv = this.conv;
    this.ctx.mailboxes ||= this.ctx.api('GET', '/api/v1/channels/email/sources')
      .then((r) => r.items.map((b) => b.address.toLowerCase()), () => []);
    const boxes = [conv.source || '', ...await this.ctx.mailboxes].map((b) => b.toLowerCase().split('@'));
    if (conv !== this.conv) return;
    const last = [...this.pane.thread.messages.values()].sort((a, b) => a.id - b.id)
      .filter((m) => m.direction === 'in' && (m.metadata.email || {}).kind === 'human').pop();
    const em = last ? last.metadata.email : {};
    const ours = (a) => a === (this.pane.contact.email || '').toLowerCase() || boxes.some(([user, domain]) => a.endsWith(`@${domain}`) && a.split(/[+@]/)[0] === user);
    this.cc.value = [...new Set([...em.to || [], ...em.cc || []].map((a) => a.email.toLowerCase()))].filter((a) => !ours(a)).join(', ');
    this.updatePreview();
  }

  ccList() { return [...new Set(this.cc.value.split(/[,;\s]+/).map((s) => s.trim()).filter(Boolean))]; }

  updatePreview() {
    if (!this.preview || this.preview.hidden) {
      if (this.previewButton) this.previewButton.setAttribute('aria-expanded', 'false');
      return;
    }
    this.previewButton.setAttribute('aria-expanded', 'true');
    const t = this.t;
    const subject = (this.conv && this.conv.subject) || t('composer.no_subject');
    const c = this.pane.contact || {};
    const lines = [`${t('email.to')}: ${c.name ? `${c.name} <${c.email}>` : c.email}`, `${t('email.subject')}: ${/^re:/i.test(subject) ? subject : `Re: ${subject}`}`];
    const cc = this.ccList();
    if (cc.length) lines.push(`${t('email.cc')}: ${cc.join(', ')}`);
    const files = this.files.filter((f) => f.stored).map((f) => f.stored.filename);
    if (files.length) lines.push(`${t('conv.attachments')}: ${files.join(', ')}`);
    lines.push('', this.text.value.trim(), '', (this.ctx.me && this.ctx.me.name) || '', '', t('composer.preview_added'));
    this.preview.textContent = lines.join('\n');
  }

  setMode(mode) {
    if (this.text && this.mode !== mode) this.saveDraft();
    this.mode = mode;
    for (const tab of this.tabs) {
      const on = tab.dataset.mode === mode;
      tab.setAttribute('aria-selected', String(on));
      tab.tabIndex = on ? 0 : -1;
    }
    this.form.classList.toggle('is-note', mode === 'note');
    this.label.textContent = this.t(mode === 'note' ? 'composer.note_label' : 'composer.reply_label');
    this.text.placeholder = this.t(mode === 'note' ? 'composer.note_placeholder' : 'composer.reply_placeholder');
    this.text.value = localStorage.getItem(this.draftKey()) || '';
    this.sendResolve.hidden = mode === 'note';
    this.attachButton.hidden = mode === 'note';
    this.chips.hidden = mode === 'note' || !this.files.length;
    this.showEmail();
    this.closePopup();
    this.updateHint();
  }

  focus(mode) {
    if (!this.text || !this.text.isConnected) return;
    if (mode) this.setMode(mode);
    this.text.focus();
  }

  saveDraft() {
    const key = this.draftKey();
    if (!key || !this.text) return;
    if (this.text.value.trim()) localStorage.setItem(key, this.text.value);
    else localStorage.removeItem(key);
  }

  changed() {
    this.typing();
    clearTimeout(this.draftTimer);
    this.draftTimer = setTimeout(() => this.saveDraft(), 300);
    this.error.hidden = true;
    this.updateHint();
    this.updatePreview();
    this.suggest();
  }

  updateHint() {
    if (!this.hint) return;
    const t = this.t;
    if (this.mode === 'note') {
      this.hint.textContent = t('composer.note_hint');
    } else if (this.conv && this.conv.channel === 'sms') {
      const {segments, encoding} = smsSegments(this.text.value);
      this.hint.textContent = t('composer.sms_hint', {count: segments, encoding});
    } else {
      this.hint.textContent = t(ENTER_SENDS.has(this.conv && this.conv.channel) ? 'composer.enter_hint' : 'composer.ctrl_enter_hint');
    }
  }

  keydown(e) {
    if (this.picker && !this.popup.hidden) {
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        e.preventDefault();
        this.movePick(e.key === 'ArrowDown' ? 1 : -1);
        return;
      }
      if (e.key === 'Enter' || e.key === 'Tab') {
        e.preventDefault();
        this.choose(this.picker.active);
        return;
      }
      if (e.key === 'Escape') { e.preventDefault(); this.closePopup(); return; }
    }
    if (e.key === 'Escape') { this.text.blur(); return; }
    if (e.key !== 'Enter' || e.shiftKey) return;
    const enterSends = this.mode === 'reply' && ENTER_SENDS.has(this.conv.channel);
    if (e.ctrlKey || e.metaKey || enterSends) {
      e.preventDefault();
      this.send(false);
    }
  }

  // -- @mentions and /canned ------------------------------------------------------------------
  async suggest() {
    const before = this.text.value.slice(0, this.text.selectionStart);
    const mention = this.mode === 'note' ? /(^|\s)@([\p{L}\p{N}._-]*)$/u.exec(before) : null;
    const canned = /^\/([\w-]*)$/.exec(before) || /\n\/([\w-]*)$/.exec(before);
    if (mention) {
      const q = mention[2].toLowerCase();
      const items = this.ctx.directory.activeAgents().filter((a) => a.id !== this.ctx.me.id && a.name.toLowerCase().includes(q))
        .slice(0, 8).map((a) => ({label: a.name, detail: a.email, value: a}));
      this.openPopup('mention', items, mention[2].length + 1);
    } else if (canned) {
      const list = await this.loadCanned();
      const q = canned[1].toLowerCase();
      const items = list.filter((c) => `${c.name} ${c.title}`.toLowerCase().includes(q)).slice(0, 8)
        .map((c) => ({label: c.title || c.name, detail: c.text, value: c}));
      this.openPopup('canned', items, canned[1].length + 1, list.length ? null : this.t('composer.no_canned'));
    } else {
      this.closePopup();
    }
  }

  async loadCanned() {
    if (this.canned === null) {
      try {
        const data = await this.ctx.api('GET', `/api/v1/canned?conversation_id=${this.conv.id}`);
        this.canned = data.items || [];
      } catch {
        this.canned = [];
      }
    }
    return this.canned;
  }

  openPopup(kind, items, replaceLength, emptyText) {
    this.picker = {kind, items, replaceLength, active: 0};
    if (!items.length) {
      if (!emptyText) { this.closePopup(); return; }
      fill(this.popup, h('li', {class: 'muted'}, emptyText));
      this.popup.hidden = false;
      this.picker.items = [];
      return;
    }
    fill(this.popup, items.map((item, i) => h('li', {role: 'option', id: `pick-${i}`, 'aria-selected': String(i === 0),
      onMousedown: (e) => { e.preventDefault(); this.choose(i); }},
    h('strong', {}, item.label), ' ', h('span', {class: 'muted'}, (item.detail || '').slice(0, 80)))));
    this.popup.hidden = false;
    this.text.setAttribute('aria-activedescendant', 'pick-0');
    this.text.setAttribute('aria-controls', 'composer-popup');
  }

  movePick(step) {
    const p = this.picker;
    if (!p.items.length) return;
    p.active = (p.active + step + p.items.length) % p.items.length;
    for (const [i, li] of [...this.popup.children].entries()) li.setAttribute('aria-selected', String(i === p.active));
    this.text.setAttribute('aria-activedescendant', `pick-${p.active}`);
  }

  choose(index) {
    const p = this.picker;
    const item = p && p.items[index];
    if (!item) { this.closePopup(); return; }
    const pos = this.text.selectionStart;
    const start = pos - p.replaceLength;
    let insert;
    if (p.kind === 'mention') {
      insert = `@${item.value.name} `;
      this.mentions.set(item.value.id, item.value.name);
    } else {
      insert = item.value.text;
    }
    this.text.value = this.text.value.slice(0, start) + insert + this.text.value.slice(pos);
    const caret = start + insert.length;
    this.text.setSelectionRange(caret, caret);
    this.closePopup();
    this.changed();
    this.text.focus();
  }

  closePopup() {
    this.picker = null;
    if (!this.popup) return;
    this.popup.hidden = true;
    fill(this.popup);
    this.text.removeAttribute('aria-activedescendant');
  }

  // -- attachments ---------------------------------------------------------------------------
  async attach(picked) {
    this.fileInput.value = '';
    for (const file of picked) {
      const entry = {name: file.name, size: file.size, stored: null};
      this.files.push(entry);
      this.renderChips();
      const form = new FormData();
      form.append('file', file, file.name);
      try {
        entry.stored = await this.ctx.api('POST', '/api/v1/attachments', form);
      } catch (err) {
        this.files = this.files.filter((f) => f !== entry);
        this.error.textContent = this.t('composer.attach_failed', {name: file.name, message: explain(err)});
        this.error.hidden = false;
      }
      this.renderChips();
    }
  }

  renderChips() {
    const t = this.t;
    fill(this.chips, this.files.map((f) => h('li', {class: 'chip', dataset: {state: f.stored ? 'ready' : 'uploading'}},
      h('span', {}, f.stored ? f.stored.filename : t('composer.uploading', {name: f.name})),
      h('span', {class: 'muted'}, ` ${fmtSize(f.size)} `),
      h('button', {type: 'button', class: 'chip-remove', 'aria-label': t('composer.attach_remove', {name: f.name}),
        onClick: () => { this.files = this.files.filter((x) => x !== f); this.renderChips(); }}, '×'))));
    this.chips.hidden = !this.files.length;
  }

  // -- sending -------------------------------------------------------------------------------
  async send(thenResolve) {
    const text = this.text.value.trim();
    if (!text || this.sending) return;
    const mode = this.mode;
    if (mode === 'reply' && this.files.some((f) => !f.stored)) {
      this.error.textContent = this.t('composer.still_uploading');
      this.error.hidden = false;
      return;
    }
    const conv = this.conv;
    // Someone else with this conversation open is typing a reply: say so once before a second answer.
    const typists = mode === 'reply' ? this.pane.collision.replyTypists() : [];
    if (typists.length && this.warnedFor !== text) {
      this.warnedFor = text;
      this.error.textContent = this.t('collision.send_anyway', {name: typists[0].name});
      this.error.hidden = false;
      return;
    }
    this.warnedFor = null;
    // The same text sent again after a failure keeps its client_id: the hub stores it once.
    if (!this.pending || this.pending.text !== text || this.pending.mode !== mode || this.pending.conv !== conv.id) {
      this.pending = {text, mode, conv: conv.id, client_id: crypto.randomUUID()};
    }
    const body = {text, client_id: this.pending.client_id};
    const sentFiles = mode === 'reply' ? [...this.files] : [];
    if (sentFiles.length) body.attachments = sentFiles.map((f) => f.stored.id);
    if (this.isEmailReply() && this.ccList().length) body.cc = this.ccList();
    if (mode === 'note') {
      body.mentions = [...this.mentions].filter(([, name]) => text.includes(`@${name}`)).map(([id]) => id);
    }
    this.sending = true;
    this.sendButton.disabled = true;
    try {
      const path = `/api/v1/conversations/${conv.id}/${mode === 'note' ? 'notes' : 'messages'}`;
      const message = await this.ctx.api('POST', path, body);
      this.pending = null;
      this.mentions.clear();
      this.files = this.files.filter((f) => !sentFiles.includes(f));
      this.renderChips();
      if (this.conv && this.conv.id === conv.id) {
        this.text.value = '';
        if (mode === 'reply') { this.preview.hidden = true; this.resetCc(); }
        localStorage.removeItem(this.draftKey(mode));
        this.updateHint();
        // The socket may have brought it already, and its delivery status since (a quick failure).
        this.pane.thread.answered(message, 0);
        this.pane.thread.scrollToBottom();
      }
      if (thenResolve) await this.pane.setStatus('resolved');
    } catch (err) {
      this.error.textContent = err.status === 0 ? this.t('composer.not_sent_network') : this.t('composer.not_sent', {message: explain(err)});
      this.error.hidden = false;
    } finally {
      this.sending = false;
      this.sendButton.disabled = false;
    }
  }
}
