// Collision presence in the conversation header: who else has this conversation open ("Ben is
// viewing", initials) and who of them is typing a reply or a note, so two agents do not answer the
// same customer. Hints from the agent socket (agents_ui/ws_collision.py), never events: the console
// says which conversation it has open (again every VIEWING_REFRESH_MS, and after a reconnect), the
// hub answers with the others there and their typing; a typist who stops is forgotten after
// TYPING_SHOWN_MS, one who leaves (or whose tab closes, or goes quiet) with the next `viewers`.
import {h, fill} from './dom.js';
import {lang} from './i18n.js';

const VIEWING_REFRESH_MS = 15000;  // hub/viewers.py VIEWING_REFRESH; the hub forgets after 45 s
const TYPING_SHOWN_MS = 6000;

export function initials(name) {
  const words = String(name || '?').trim().split(/\s+/).filter(Boolean);
  return (words.length > 1 ? words[0][0] + words[words.length - 1][0] : (words[0] || '?').slice(0, 2)).toUpperCase();
}

export class Collision {
  constructor(ctx) {
    this.ctx = ctx;
    this.t = ctx.t;
    this.id = null;
    this.others = [];
    this.typing = new Map();  // agent id -> {mode, timer}
    this.avatars = h('ul', {class: 'avatars', 'aria-hidden': 'true'});
    this.text = h('span', {class: 'collision-text', role: 'status'});
    this.el = h('div', {class: 'collision', hidden: true}, this.avatars, this.text);
    ctx.socket.on('viewers', (frame) => this.viewers(frame));
    ctx.socket.on('typing', (frame) => { if (frame.who === 'agent') this.typed(frame); });
    ctx.socket.on('ready', () => this.say());
    // Offline, what we knew goes stale: show nobody until the hub says again (after `ready`).
    ctx.socket.on('state', (state) => {
      if (state === 'online') return;
      this.others = [];
      this.clearTyping();
      this.render();
    });
  }

  // The conversation now open here (null: none).
  open(id) {
    if (id === this.id) return;
    this.id = id;
    this.others = [];
    this.clearTyping();
    this.render();
    this.say();
    clearInterval(this.refresh);
    if (id != null) this.refresh = setInterval(() => this.say(), VIEWING_REFRESH_MS);
  }

  say() { this.ctx.socket.send({type: 'viewing', conversation_id: this.id}); }

  viewers(frame) {
    if (frame.conversation_id !== this.id) return;
    const me = this.ctx.me.id;
    this.others = (frame.agents || []).filter((a) => a.id !== me);
    for (const id of [...this.typing.keys()]) if (!this.others.some((a) => a.id === id)) this.stopTyping(id, false);
    this.render();
  }

  typed(frame) {
    if (frame.conversation_id !== this.id || frame.agent_id === this.ctx.me.id) return;
    if (!this.others.some((a) => a.id === frame.agent_id)) this.others.push({id: frame.agent_id, name: frame.name});
    const old = this.typing.get(frame.agent_id);
    if (old) clearTimeout(old.timer);
    this.typing.set(frame.agent_id, {mode: frame.mode, timer: setTimeout(() => this.stopTyping(frame.agent_id), TYPING_SHOWN_MS)});
    this.render();
  }

  // Their reply or note arrived: they are no longer typing it.
  sent(agentId) { if (this.typing.has(agentId)) this.stopTyping(agentId); }

  stopTyping(agentId, render = true) {
    const old = this.typing.get(agentId);
    if (old) clearTimeout(old.timer);
    this.typing.delete(agentId);
    if (render) this.render();
  }

  clearTyping() {
    for (const {timer} of this.typing.values()) clearTimeout(timer);
    this.typing.clear();
  }

  // Others typing a reply right now (the composer warns before a second answer).
  replyTypists() { return this.others.filter((a) => (this.typing.get(a.id) || {}).mode === 'reply'); }

  render() {
    const t = this.t;
    this.el.hidden = !this.others.length;
    if (!this.others.length) { fill(this.avatars); this.text.textContent = ''; return; }
    const names = (list) => new Intl.ListFormat(lang(), {type: 'conjunction'}).format(list.map((a) => a.name));
    const typists = this.others.filter((a) => this.typing.has(a.id));
    const watchers = this.others.filter((a) => !this.typing.has(a.id));
    const parts = typists.map((a) => t(this.typing.get(a.id).mode === 'note' ? 'collision.typing_note' : 'collision.typing_reply', {name: a.name}));
    if (watchers.length) parts.push(t('collision.viewing', {names: names(watchers), count: watchers.length}));
    fill(this.avatars, this.others.slice(0, 4).map((a) =>
      h('li', {class: ['avatar', this.typing.has(a.id) ? 'avatar-typing' : null], title: a.name}, initials(a.name))));
    const text = parts.join(' · ');
    if (this.text.textContent !== text) this.text.textContent = text;
  }
}
