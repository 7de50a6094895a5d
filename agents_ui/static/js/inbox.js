// The inbox: views with counts, filters, and rows kept live from the socket without a refresh.
// Rows are updated in place; order and membership changes wait while the agent is pointing at
// the list (moved the mouse over it in the last few seconds), so nothing jumps under the cursor.
import {h, clear, fill} from './dom.js';
import {icon, CHANNELS} from './icons.js';
import {fmtDuration} from './i18n.js';
import {explain} from './api.js';

const VIEWS = ['mine', 'teams', 'unassigned', 'mentions', 'all'];
const STATUSES = ['open', 'pending', 'snoozed', 'resolved'];
const POINTING_MS = 2500;
const REFRESH_DELAY_MS = 120;
const PREVIEW_CHARS = 160;

// A row's preview as the server makes it (hub/conversations/inbox.py `_preview`).
function preview(text) {
  const folded = (text || '').split(/\s+/).filter(Boolean).join(' ');
  return folded.length <= PREVIEW_CHARS ? folded : `${folded.slice(0, PREVIEW_CHARS - 1)}…`;
}

export class Inbox {
  constructor(el, ctx) {
    this.el = el;
    this.ctx = ctx;
    this.t = ctx.t;
    this.view = null;
    this.filters = {status: '', channel: '', team_id: ''};
    this.items = new Map();
    this.order = [];
    this.rowEls = new Map();
    this.offers = new Map();
    this.selectedId = null;
    this.openId = null;
    this.query = '';
    this.caps = null;
    this.loaded = false;
    this.lastPointer = 0;
    this.applied = 0;
    this.build();
    setInterval(() => this.tickWaits(), 30000);
  }

  get supervisor() { return ['supervisor', 'admin'].includes(this.ctx.me.role); }

  build() {
    const t = this.t;
    this.viewLinks = new Map();
    const views = VIEWS.filter((v) => v !== 'all' || this.supervisor);
    this.viewsEl = h('ul', {class: 'views'}, views.map((v) => {
      const count = h('span', {class: 'count'});
      const a = h('a', {href: `#/inbox/${v}`, class: 'view', dataset: {view: v}}, h('span', {}, t(`inbox.view.${v}`)), count);
      this.viewLinks.set(v, {a, count});
      return h('li', {}, a);
    }));
    const select = (id, label, options, key) => h('span', {class: 'filter'},
      h('label', {for: id, class: 'visually-hidden'}, label),
      h('select', {id, onChange: (e) => { this.filters[key] = e.target.value; this.load(); }}, options));
    this.teamSelect = select('filter-team', t('inbox.filter.team'), [h('option', {value: ''}, t('inbox.filter.any_team'))], 'team_id');
    this.search = h('input', {type: 'search', id: 'inbox-search', placeholder: t('inbox.search'), 'aria-label': t('inbox.search'),
      onInput: (e) => { this.query = e.target.value.trim().toLowerCase(); this.render(); }});
    this.filtersEl = h('div', {class: 'filters'},
      select('filter-status', t('inbox.filter.status'), [h('option', {value: ''}, t('inbox.filter.active')),
        ...STATUSES.map((s) => h('option', {value: s}, t(`status.${s}`)))], 'status'),
      select('filter-channel', t('inbox.filter.channel'), [h('option', {value: ''}, t('inbox.filter.any_channel')),
        ...CHANNELS.map((c) => h('option', {value: c}, t(`channel.${c}`)))], 'channel'),
      this.teamSelect, this.search);
    this.offersEl = h('section', {class: 'offers', 'aria-label': t('inbox.offers'), hidden: true});
    this.listEl = h('ul', {class: 'rows', 'aria-label': t('inbox.rows')});
    this.stateEl = h('div', {class: 'list-state', role: 'status'});
    this.listEl.addEventListener('mousemove', () => { this.lastPointer = Date.now(); });
    this.listEl.addEventListener('mouseleave', () => { this.lastPointer = 0; if (this.pending) this.reconcile(this.pending); });
    fill(this.el, h('h2', {class: 'visually-hidden'}, t('inbox.label')), this.viewsEl, this.filtersEl, this.offersEl, this.stateEl, this.listEl);
  }

  fillTeams() {
    const sel = this.teamSelect.querySelector('select');
    while (sel.options.length > 1) sel.remove(1);
    for (const team of this.ctx.directory.teams.values()) sel.appendChild(h('option', {value: team.id}, team.name));
  }

  async capabilities() {
    if (this.caps === null) {
      try {
        await this.ctx.api('GET', '/api/v1/conversations/counts');
        this.caps = {views: true};
      } catch (err) {
        // An older hub without views: the list is filtered with assignee= instead (no mentions).
        this.caps = {views: err.status === 0};
      }
    }
    return this.caps;
  }

  async setView(view) {
    if (!VIEWS.includes(view) || (view === 'all' && !this.supervisor)) view = 'mine';
    this.openId = null;
    if (view === this.view && this.loaded) return;
    this.view = view;
    for (const [v, {a}] of this.viewLinks) {
      if (v === view) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
    }
    this.items.clear();
    this.order = [];
    this.pending = null;
    clear(this.listEl);
    this.rowEls.clear();
    await this.load();
  }

  async ensureLoaded() {
    if (!this.view) await this.setView('mine');
  }

  params() {
    const p = new URLSearchParams();
    const f = this.filters;
    if (f.status) p.set('status', f.status);
    if (f.channel) p.set('channel', f.channel);
    if (f.team_id) p.set('team_id', f.team_id);
    if (this.caps.views) {
      p.set('view', this.view);
      p.set('limit', '500');
    } else {
      if (this.view === 'mine') p.set('assignee', 'me');
      if (this.view === 'unassigned') p.set('assignee', 'none');
      p.set('limit', '200');
    }
    return p;
  }

  async load() {
    await this.capabilities();
    if (!this.loaded) this.fillTeams();
    if (!this.items.size) this.showState('loading');
    if (!this.caps.views && this.view === 'mentions') {
      this.reconcile([], true);
      this.showState('mentions_unavailable');
      return;
    }
    const seq = (this.seq = (this.seq || 0) + 1);
    const applied = this.applied;
    try {
      const data = await this.ctx.api('GET', `/api/v1/conversations?${this.params()}`);
      if (seq !== this.seq) return;
      this.loaded = true;
      this.reconcile(data.items, true);
      // Events applied while the request was out may be older than its answer or newer: read
      // again, so the list settles on the server's latest state.
      if (this.applied !== applied) this.refresh();
    } catch (err) {
      if (seq !== this.seq) return;
      this.showState('error', explain(err));
    }
    this.loadCounts();
  }

  async loadCounts() {
    if (!this.caps.views) {
      const mine = this.view === 'mine' ? this.items.size : null;
      if (mine !== null) this.viewLinks.get('mine').count.textContent = String(mine);
      return;
    }
    try {
      const counts = await this.ctx.api('GET', '/api/v1/conversations/counts');
      for (const [v, {count}] of this.viewLinks) {
        const n = counts[v];
        count.textContent = n === null || n === undefined ? '' : String(n);
        count.setAttribute('aria-label', n == null ? '' : this.t('inbox.count', {count: n}));
      }
      this.ctx.notifier?.setCount?.(counts.mine);
    } catch { /* counts are a nicety; the list itself shows what matters */ }
  }

  // Refetch soon, coalescing a burst of events into one request (a steady stream still refreshes
  // every REFRESH_DELAY_MS: the timer is not pushed back by each event).
  refresh() {
    if (!this.view) return Promise.resolve();
    if (!this.refreshing) {
      this.refreshing = new Promise((resolve) => {
        setTimeout(() => { this.refreshing = null; this.load().then(resolve, resolve); }, REFRESH_DELAY_MS);
      });
    }
    return this.refreshing;
  }

  pointing() { return Date.now() - this.lastPointer < POINTING_MS; }

  reconcile(items, fromServer = false) {
    if (fromServer) {
      for (const item of items) {
        const old = this.items.get(item.id);
        // The open conversation is read: keep it so until the server knows.
        if (item.id === this.openId) item.unread = false;
        this.items.set(item.id, old ? {...old, ...item} : item);
      }
    }
    if (this.pointing() && this.order.length) {
      this.pending = items;
      clearTimeout(this.pendingTimer);
      this.pendingTimer = setTimeout(() => this.pending && this.reconcile(this.pending), POINTING_MS);
      this.render(false);
      return;
    }
    this.pending = null;
    const ids = items.map((i) => i.id);
    const keep = new Set(ids);
    for (const id of this.items.keys()) if (!keep.has(id)) this.items.delete(id);
    this.order = ids;
    this.render(true);
  }

  visibleIds() {
    if (!this.query) return this.order;
    return this.order.filter((id) => {
      const it = this.items.get(id);
      return `${it.contact_name || ''} ${it.preview || ''} ${it.subject || ''}`.toLowerCase().includes(this.query);
    });
  }

  render(reorder = true) {
    const ids = this.visibleIds();
    if (reorder) {
      const wanted = new Set(ids);
      for (const [id, el] of this.rowEls) {
        if (!wanted.has(id)) { el.remove(); this.rowEls.delete(id); }
      }
      let prev = null;
      for (const id of ids) {
        let el = this.rowEls.get(id);
        if (!el) { el = h('li', {class: 'row-item', dataset: {id}}); this.rowEls.set(id, el); }
        this.renderRow(el, this.items.get(id));
        const next = prev ? prev.nextSibling : this.listEl.firstChild;
        if (next !== el) this.listEl.insertBefore(el, next);
        prev = el;
      }
    } else {
      for (const [id, el] of this.rowEls) if (this.items.has(id)) this.renderRow(el, this.items.get(id));
    }
    this.renderOffers();
    if (!ids.length) this.showState(this.query ? 'no_match' : 'empty');
    else this.showState(null);
    this.ctx.notifier?.setUnread?.([...this.items.values()].filter((i) => i.unread).length);
  }

  label(item) {
    return item.contact_name || item.subject || this.t('inbox.customer', {id: item.contact_id});
  }

  renderRow(li, item) {
    const t = this.t;
    const selected = item.id === this.selectedId;
    const open = item.id === this.openId;
    const waitFrom = item.waiting_since || (item.last_direction === 'in' ? item.last_message_at : null);
    const wait = waitFrom ? (Date.now() - new Date(waitFrom).getTime()) / 1000 : null;
    li.className = ['row-item', item.unread && 'unread', selected && 'selected', open && 'open'].filter(Boolean).join(' ');
    fill(li, h('a', {href: `#/c/${item.id}`, class: 'row', 'aria-current': open ? 'true' : null},
      h('span', {class: 'row-top'},
        item.unread ? h('span', {class: 'unread-dot', title: t('inbox.unread')}, h('span', {class: 'visually-hidden'}, t('inbox.unread'))) : null,
        h('span', {class: 'row-name'}, this.label(item)),
        wait !== null && item.status === 'open' ? h('span', {class: 'row-wait', title: t('inbox.waiting')}, fmtDuration(wait)) : null),
      h('span', {class: 'row-meta'},
        h('span', {class: 'channel'}, icon(item.channel), t(`channel.${item.channel}`)),
        item.status !== 'open' ? h('span', {class: `status status-${item.status}`}, t(`status.${item.status}`)) : null,
        item.assignee_id && this.view !== 'mine' ? h('span', {class: 'row-assignee'}, this.ctx.directory.agentName(item.assignee_id)) : null),
      h('span', {class: 'row-preview'}, item.preview || item.subject || '')));
  }

  renderOffers() {
    const me = this.ctx.me.id;
    const offered = new Map(this.offers);
    for (const it of this.items.values()) if (it.offered_to_id === me) offered.set(it.id, it);
    if (!offered.size) { this.offersEl.hidden = true; clear(this.offersEl); return; }
    this.offersEl.hidden = false;
    fill(this.offersEl, h('h3', {}, this.t('inbox.offers')), h('ul', {}, [...offered.keys()].map((id) => {
      const it = this.items.get(id) || offered.get(id);
      return h('li', {class: 'offer'},
        h('a', {href: `#/c/${id}`}, it && it.contact_name ? it.contact_name : this.t('inbox.conversation', {id})),
        h('span', {class: 'offer-actions'},
          h('button', {type: 'button', class: 'primary', onClick: () => this.answerOffer(id, 'accept')}, this.t('inbox.accept')),
          h('button', {type: 'button', onClick: () => this.answerOffer(id, 'decline')}, this.t('inbox.decline'))));
    })));
  }

  async answerOffer(id, answer) {
    try {
      await this.ctx.api('POST', `/api/v1/conversations/${id}/${answer}`);
      this.offers.delete(id);
      const it = this.items.get(id);
      if (it) it.offered_to_id = null;
      this.renderOffers();
      if (answer === 'accept') this.ctx.navigate(`#/c/${id}`);
      this.refresh();
    } catch (err) {
      this.ctx.shell.banner(explain(err), 'error', 5000);
    }
  }

  showState(kind, message) {
    if (!kind) { this.stateEl.hidden = true; clear(this.stateEl); return; }
    this.stateEl.hidden = false;
    if (kind === 'loading') {
      fill(this.stateEl, h('span', {class: 'visually-hidden'}, this.t('common.loading')),
        [1, 2, 3, 4].map(() => h('div', {class: 'skeleton', 'aria-hidden': 'true'})));
    } else if (kind === 'error') {
      fill(this.stateEl, h('p', {class: 'error'}, message),
        h('button', {type: 'button', onClick: () => this.load()}, this.t('common.retry')));
    } else {
      fill(this.stateEl, h('p', {class: 'empty'}, this.t(`inbox.state.${kind}`)));
    }
  }

  tickWaits() { this.render(false); }

  // -- live updates ------------------------------------------------------------------------------
  apply(event) {
    if (!this.view) return;
    const d = event.data || {};
    const id = event.conversation_id;
    if (event.type === 'conversation.offered') {
      if (d.agent_id === this.ctx.me.id) this.offers.set(id, d.conversation || {id});
      else this.offers.delete(id);
      this.renderOffers();
    } else if (event.type === 'conversation.offer_withdrawn' || event.type === 'conversation.assigned') {
      if (this.offers.delete(id)) this.renderOffers();
    }
    if (id == null) return;
    const item = this.items.get(id);
    if (item) {
      this.applied += 1;
      if (d.conversation) Object.assign(item, d.conversation);
      if (event.type === 'message.created' && d.message) {
        item.preview = preview(d.message.text);
        // The server's last_message_at (and the views' order) is the customer's last message; an
        // automatic one (an out-of-office) is shown, but nobody waits for an answer to it.
        if (!d.message.automatic) {
          item.last_direction = d.message.direction;
          if (d.message.direction === 'in') item.last_message_at = d.message.created_at;
        }
        // Unread as the server counts it: the last message, unless it is my own reply.
        if (id !== this.openId) item.unread = d.message.author_agent_id !== this.ctx.me.id;
      }
      const el = this.rowEls.get(id);
      if (el) this.renderRow(el, item);
    }
    if (event.type === 'contact.updated' && d.changes && d.changes.name) {
      for (const [rowId, row] of this.items) {
        if (row.contact_id !== event.contact_id) continue;
        row.contact_name = d.changes.name[1];
        const el = this.rowEls.get(rowId);
        if (el) this.renderRow(el, row);
      }
    }
    // Only what may change which conversations a view holds (or its counts) costs a request; a
    // message in a row already listed just moves that row up. A merge moves rows to another customer.
    const mentionsMe = event.type === 'note.created' && (d.mentions || []).includes(this.ctx.me.id);
    if (event.type.startsWith('conversation.') || event.type === 'contact.merged' || mentionsMe
        || (event.type === 'message.created' && !item)) {
      this.refresh();
    } else if (item && event.type === 'message.created') {
      this.reorderLocally();
    }
  }

  // Newest activity first, as the server orders a view.
  reorderLocally() {
    const items = [...this.items.values()];
    const at = (x) => Date.parse(x.last_message_at || '') || 0;
    items.sort((a, b) => at(b) - at(a) || b.id - a.id);
    this.reconcile(items);
  }

  // -- selection and keyboard ----------------------------------------------------------------
  select(id) {
    const before = this.selectedId;
    this.selectedId = id;
    this.openId = id;
    const item = this.items.get(id);
    if (item) item.unread = false;
    for (const x of [before, id]) {
      const el = this.rowEls.get(x);
      if (el && this.items.has(x)) this.renderRow(el, this.items.get(x));
    }
  }

  move(step) {
    const ids = this.visibleIds();
    if (!ids.length) return;
    const at = ids.indexOf(this.selectedId);
    const next = ids[Math.max(0, Math.min(ids.length - 1, at === -1 ? 0 : at + step))];
    const before = this.selectedId;
    this.selectedId = next;
    for (const x of [before, next]) {
      const el = this.rowEls.get(x);
      if (el && this.items.has(x)) this.renderRow(el, this.items.get(x));
    }
    const link = this.rowEls.get(next)?.querySelector('a');
    if (link) { link.focus(); link.scrollIntoView({block: 'nearest'}); }
  }

  openSelected() {
    if (this.selectedId != null) this.ctx.navigate(`#/c/${this.selectedId}`);
  }

  focusSearch() { this.search.focus(); }
}
