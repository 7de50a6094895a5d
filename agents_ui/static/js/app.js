// The console shell: top bar, the three panes (inbox | conversation | customer), the connection
// banner, hash navigation, and the supervisor/settings sections loaded on demand.
import {h, clear, fill} from './dom.js';
import {api, explain, setUnauthorizedHandler} from './api.js';
import {t, lang, loadCatalogue, fmtDateTime, fmtRelative} from './i18n.js';
import {HubSocket} from './socket.js';
import {LANGUAGES, setLanguage} from './lang.js';
import {Directory} from './directory.js';
import {Inbox} from './inbox.js';
import {ConversationPane} from './conversation.js';
import {Sidebar} from './sidebar.js';
import {Notifier} from './notify.js';
import {installKeys} from './keys.js';

const SECTIONS = {supervisor: ['supervisor', 'admin'], settings: ['admin']};
const PRESENCES = ['online', 'away', 'offline'];

class Shell {
  constructor(root, me) {
    this.root = root;
    this.me = me;
    this.live = document.getElementById('live');
    this.directory = new Directory(api);
    this.socket = new HubSocket({onResync: () => this.reload(),
      onSessionEnded: () => window.location.assign('/login?expired=1')});
    this.section = null;
    this.ctx = {
      api, t, me, socket: this.socket, lang, fmtDateTime, fmtRelative,
      navigate: (hash) => { window.location.hash = hash; },
      directory: this.directory,
      announce: (text) => this.announce(text),
      shell: this,
    };
  }

  async start() {
    this.build();
    await this.directory.load();
    this.socket.on('state', (state) => this.connection(state));
    this.socket.on('ready', ({resumed}) => this.ready(resumed));
    this.socket.on('resync', () => this.banner(t('shell.resynced'), 'info', 6000));
    this.socket.on('*', (event) => this.dispatch(event));
    // Lists are read once the socket is subscribed, so nothing committed in between is missed
    // (a socket that cannot connect only delays the first screen by a few seconds).
    const subscribed = new Promise((resolve) => {
      const off = this.socket.on('ready', () => { off(); resolve(); });
      setTimeout(resolve, 3000);
    });
    this.socket.connect();
    await subscribed;
    window.addEventListener('hashchange', () => this.route());
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden && this.conversation.conv) this.conversation.markRead();
    });
    installKeys(this);
    this.notifier.seed();
    await this.route();
    this.root.removeAttribute('aria-busy');
  }

  build() {
    const me = this.me;
    const canSee = (name) => SECTIONS[name].includes(me.role);
    this.presence = h('select', {id: 'presence', class: `presence presence-${me.presence}`,
      onChange: (e) => this.setPresence(e.target.value)},
    PRESENCES.map((p) => h('option', {value: p, selected: p === me.presence}, t(`presence.${p}`))));
    this.notifier = new Notifier(this.ctx);
    const langSelect = h('select', {id: 'lang-select', onChange: (e) => { setLanguage(e.target.value); window.location.reload(); }},
      LANGUAGES.map(([code, name]) => h('option', {value: code, selected: code === lang()}, name)));
    this.banner_el = h('div', {class: 'banner', role: 'status', hidden: true});
    this.topbar = h('header', {class: 'topbar'},
      h('h1', {class: 'brand-title'}, h('a', {class: 'brand', href: '#/inbox/mine'}, t('app.name'))),
      h('nav', {class: 'sections', 'aria-label': t('shell.sections')},
        h('a', {href: '#/inbox/mine', dataset: {section: 'inbox'}}, t('shell.inbox')),
        canSee('supervisor') ? h('a', {href: '#/supervisor', dataset: {section: 'supervisor'}}, t('shell.supervisor')) : null,
        canSee('settings') ? h('a', {href: '#/settings', dataset: {section: 'settings'}}, t('shell.settings')) : null),
      h('div', {class: 'spacer'}),
      h('span', {class: 'presence-field'},
        h('span', {class: 'presence-dot', 'aria-hidden': 'true'}),
        h('label', {for: 'presence', class: 'visually-hidden'}, t('presence.label')), this.presence),
      this.notifier.button(),
      h('label', {for: 'lang-select', class: 'visually-hidden'}, t('common.language')), langSelect,
      h('button', {type: 'button', class: 'help-button', 'aria-label': t('keys.help'), title: t('keys.help'),
        onClick: () => this.keys.help()}, '?'),
      h('span', {class: 'me', title: me.email}, me.name),
      h('button', {type: 'button', onClick: () => this.signOut()}, t('shell.sign_out')));
    this.listPane = h('nav', {class: 'pane pane-list', 'aria-label': t('inbox.label')});
    this.convPane = h('main', {class: 'pane pane-conv', id: 'main', tabindex: '-1'});
    this.customerPane = h('aside', {class: 'pane pane-customer', 'aria-label': t('customer.label')});
    this.workspace = h('div', {class: 'workspace'}, this.listPane, this.convPane, this.customerPane);
    this.sectionEl = h('main', {class: 'section', hidden: true, tabindex: '-1'});
    fill(this.root, h('a', {class: 'skip-link', href: '#main'}, t('shell.skip')),
      this.topbar, this.banner_el, this.workspace, this.sectionEl);
    this.sidebar = new Sidebar(this.customerPane, this.ctx);
    this.conversation = new ConversationPane(this.convPane, this.ctx, this.sidebar);
    this.inbox = new Inbox(this.listPane, this.ctx);
    this.ctx.inbox = this.inbox;
    this.ctx.conversation = this.conversation;
  }

  async route() {
    const parts = (window.location.hash || '#/inbox/mine').replace(/^#\/?/, '').split('/');
    const [head, arg] = parts;
    for (const a of this.topbar.querySelectorAll('.sections a')) {
      const on = a.dataset.section === (head === 'c' ? 'inbox' : head);
      if (on) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
    }
    if (head in SECTIONS && SECTIONS[head].includes(this.me.role)) {
      await this.showSection(head, parts.slice(1));
      return;
    }
    this.leaveSection();
    if (head === 'c' && /^\d+$/.test(arg || '')) {
      this.workspace.classList.add('has-conversation');
      await this.inbox.ensureLoaded();
      this.inbox.select(Number(arg));
      await this.conversation.open(Number(arg));
    } else {
      const view = head === 'inbox' && arg ? arg : 'mine';
      this.workspace.classList.remove('has-conversation', 'show-customer');
      if (this.conversation.id != null) {
        this.conversation.composer.saveDraft();
        this.conversation.empty();
        this.sidebar.clear();
      }
      await this.inbox.setView(view);
    }
  }

  async showSection(name, rest) {
    this.workspace.hidden = true;
    this.sectionEl.hidden = false;
    if (this.section && this.section.name === name) {
      if (this.section.module.route) this.section.module.route(rest);
      return;
    }
    this.leaveSection(false);
    const href = `/static/css/${name}.css`;
    if (!document.querySelector(`link[href="${href}"]`)) document.head.appendChild(h('link', {rel: 'stylesheet', href}));
    fill(this.sectionEl, h('p', {class: 'empty'}, t('common.loading')));
    try {
      const module = await import(`./${name}.js`);
      clear(this.sectionEl);
      this.section = {name, module};
      await module.mount(this.sectionEl, {...this.ctx, path: rest});
    } catch (err) {
      console.error(err);
      fill(this.sectionEl, h('p', {class: 'empty'}, t('shell.section_unavailable')));
    }
  }

  leaveSection(showWorkspace = true) {
    if (this.section) {
      try { if (this.section.module.unmount) this.section.module.unmount(); } catch (err) { console.error(err); }
      this.section = null;
      clear(this.sectionEl);
    }
    if (showWorkspace) {
      this.sectionEl.hidden = true;
      this.workspace.hidden = false;
    }
  }

  dispatch(event) {
    this.directory.apply(event);
    if (event.type === 'presence.changed' && event.data && event.data.agent_id === this.me.id) {
      this.me.presence = event.data.presence;
      this.presence.value = event.data.presence;
      this.presence.className = `presence presence-${event.data.presence}`;
    }
    this.inbox.apply(event);
    this.conversation.apply(event);
    this.sidebar.apply(event);
    this.notifier.apply(event);
  }

  connection(state) {
    document.body.dataset.connection = state;
    if (state === 'offline') {
      this.banner(t('shell.reconnecting'), 'warn');
      // A socket refused because the session ended looks like any lost connection: ask the API,
      // whose 401 takes the agent to the login page with "your session has ended".
      if (navigator.onLine !== false) api('GET', '/api/v1/agents/me').catch(() => {});
    }
  }

  ready(resumed) {
    if (!this.greeted) {
      this.greeted = true;
      // Opening the console means being at work: an agent who was offline comes online.
      if (this.me.presence === 'offline') this.setPresence('online');
    }
    if (resumed) {
      this.banner(t('shell.back_online'), 'ok', 4000);
      this.inbox.refresh();
    }
  }

  async reload() {
    await this.directory.load();
    await this.inbox.refresh();
    await this.conversation.reload();
  }

  banner(text, kind = 'info', hideAfter = 0) {
    clearTimeout(this.bannerTimer);
    this.banner_el.className = `banner banner-${kind}`;
    this.banner_el.textContent = text;
    this.banner_el.hidden = false;
    if (hideAfter) this.bannerTimer = setTimeout(() => { this.banner_el.hidden = true; }, hideAfter);
  }

  announce(text) {
    this.live.textContent = '';
    requestAnimationFrame(() => { this.live.textContent = text; });
  }

  async setPresence(presence) {
    this.presence.className = `presence presence-${presence}`;
    this.presence.value = presence;
    try {
      const agent = await api('POST', '/api/v1/agents/me/presence', {presence});
      this.me.presence = agent.presence;
    } catch (err) {
      // Refused: the select goes back to what the hub holds.
      this.presence.className = `presence presence-${this.me.presence}`;
      this.presence.value = this.me.presence;
      // a few changes a second at most
      this.banner(err.status === 429 ? t('presence.throttled', {count: err.params.retry_after || 1}) : explain(err), 'error', 5000);
    }
  }

  async signOut() {
    // Requests still in flight answer 401 once the session is gone: they must not turn a sign-out
    // into "your session expired" (/login?expired=1) by arriving after it.
    setUnauthorizedHandler(() => {});
    this.socket.stop();
    try { await api('POST', '/api/v1/auth/logout'); } catch { /* the cookie is gone either way */ }
    window.location.assign('/login');
  }
}

async function main() {
  const root = document.getElementById('app');
  try {
    await loadCatalogue();
    const me = await api('GET', '/api/v1/agents/me');
    document.title = t('app.name');
    await new Shell(root, me).start();
  } catch (err) {
    if (err && err.status === 401) return; // api.js is taking us to the login page
    console.error(err);
    fill(root, h('p', {class: 'fatal', role: 'alert'}, t('common.network_error')),
      h('button', {type: 'button', onClick: () => window.location.reload()}, t('common.retry')));
  }
}

main();
