// Telling the agent about new work: a short sound and a desktop notification (when allowed and
// the tab is hidden) for a new assignment, an offer, a mention, or a customer message in one of
// my conversations (not an automatic one: an out-of-office is no new work); the unread count in the tab title; a mute switch (remembered).
import {h} from './dom.js';

const MUTE_KEY = 'hub.muted';

export class Notifier {
  constructor(ctx) {
    this.ctx = ctx;
    this.t = ctx.t;
    this.muted = localStorage.getItem(MUTE_KEY) === '1';
    this.mine = new Set();
    this.unread = 0;
    this.baseTitle = document.title;
    this.audio = null;
    ctx.notifier = this;
  }

  button() {
    this.toggle = h('button', {type: 'button', class: 'mute', 'aria-pressed': String(this.muted), onClick: () => this.setMuted(!this.muted)});
    this.label();
    return this.toggle;
  }

  label() {
    this.toggle.textContent = this.t(this.muted ? 'notify.muted' : 'notify.sound_on');
    this.toggle.setAttribute('aria-pressed', String(this.muted));
    this.toggle.title = this.t('notify.mute_title');
  }

  setMuted(muted) {
    this.muted = muted;
    localStorage.setItem(MUTE_KEY, muted ? '1' : '0');
    this.label();
    // Asked on a click (browsers want a gesture), not on page load.
    if (!muted && 'Notification' in window && Notification.permission === 'default') Notification.requestPermission();
  }

  // My conversations now, so a customer's message in one of them is noticed from the start.
  async seed() {
    try {
      const page = await this.ctx.api('GET', '/api/v1/conversations?view=mine&limit=500');
      for (const c of page.items) this.mine.add(c.id);
    } catch { /* then only what the socket tells from now on */ }
  }

  setUnread(n) {
    this.unread = n;
    document.title = n > 0 ? `(${n}) ${this.t('app.name')}` : this.t('app.name');
  }

  owns(event) {
    const d = event.data || {};
    const conv = d.conversation;
    if (conv && typeof conv.assignee_id !== 'undefined') {
      if (conv.assignee_id === this.ctx.me.id) this.mine.add(conv.id); else this.mine.delete(conv.id);
    }
    return this.mine.has(event.conversation_id);
  }

  apply(event) {
    const me = this.ctx.me.id;
    const d = event.data || {};
    const wasMine = this.mine.has(event.conversation_id);
    const mine = this.owns(event);
    let title = null;
    if (event.type === 'conversation.assigned' && d.assignee_id === me && !wasMine && event.actor_agent_id !== me) {
      title = this.t('notify.assigned');
    } else if (event.type === 'conversation.offered' && d.agent_id === me) {
      title = this.t('notify.offered');
    } else if (event.type === 'message.created' && d.message && d.message.direction === 'in' && !d.message.automatic && mine) {
      title = this.t('notify.message');
    } else if (event.type === 'note.created' && (d.mentions || []).includes(me) && event.actor_agent_id !== me) {
      title = this.t('notify.mentioned', {who: this.ctx.directory.agentName(event.actor_agent_id)});
    }
    if (title) this.notify(title, d.message ? d.message.text : '', event.conversation_id);
  }

  notify(title, body, conversationId) {
    this.ctx.announce(title);
    if (this.muted) return;
    this.beep();
    if (document.hidden && 'Notification' in window && Notification.permission === 'granted') {
      const n = new Notification(title, {body: (body || '').slice(0, 140), tag: `conv-${conversationId}`});
      n.onclick = () => { window.focus(); this.ctx.navigate(`#/c/${conversationId}`); n.close(); };
    }
  }

  beep() {
    try {
      this.audio = this.audio || new AudioContext();
      const osc = this.audio.createOscillator();
      const gain = this.audio.createGain();
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.08, this.audio.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.0001, this.audio.currentTime + 0.25);
      osc.connect(gain).connect(this.audio.destination);
      osc.start();
      osc.stop(this.audio.currentTime + 0.25);
    } catch { /* no audio device: the visual cues remain */ }
  }
}
