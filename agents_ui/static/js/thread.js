// One conversation's thread: messages oldest first, each in its channel's form, notes marked,
// events as thin lines. Everything from a customer goes in as text (dom.js); HTML email only in a
// sandboxed frame without scripts (see htmlToggle).
import {h, fill, linkify, safeUrl} from './dom.js';
import {icon} from './icons.js';
import {fmtDateTime, fmtSize, fmtTime} from './i18n.js';
import {explain} from './api.js';
import {smsSegments} from './sms.js';

// An email's frame is as tall as its content up to this, then "Show more" opens it whole.
const FRAME_CAP_PX = 600;

const EVENT_TYPES = new Set([
  'conversation.assigned', 'conversation.transferred', 'conversation.requeued', 'conversation.escalated',
  'conversation.status_changed', 'conversation.queued', 'conversation.offered', 'conversation.offer_withdrawn',
  'sla.at_risk', 'sla.breached', 'conversation.rated',
]);

export function isThreadEvent(type) { return EVENT_TYPES.has(type); }

export class Thread {
  constructor(ctx) {
    this.ctx = ctx;
    this.t = ctx.t;
    this.el = h('ol', {class: 'thread', 'aria-label': ctx.t('conv.thread')});
    this.messages = new Map();
    this.nodes = new Map();
    this.changes = new Map();
    this.seen = 0;  // the customer saw the replies up to this message id (receipt.customer_read)
  }

  reset(conversation, contact) {
    this.conversation = conversation;
    this.contact = contact;
    this.messages.clear();
    this.nodes.clear();
    this.changes.clear();
    this.seen = 0;
    fill(this.el);
  }

  nearBottom() {
    const s = this.el.parentElement;
    return !s || s.scrollHeight - s.scrollTop - s.clientHeight < 80;
  }

  scrollToBottom() {
    const s = this.el.parentElement;
    if (s) s.scrollTop = s.scrollHeight;
  }

  // Items keep the thread in time order (ties by kind then id); a message seen again is updated.
  add(kind, id, at, build) {
    const key = `${kind}:${id}`;
    const stick = this.nearBottom();
    const node = build();
    node.dataset.key = key;
    node.dataset.at = String(new Date(at).getTime() || 0);
    node.dataset.order = String(id);
    const old = this.nodes.get(key);
    if (old) {
      const focused = old.contains(document.activeElement) ? document.activeElement : null;
      old.replaceWith(node);
      if (focused) keepFocus(node, focused);
    } else {
      let before = null;
      const when = Number(node.dataset.at);
      for (let el = this.el.lastElementChild; el; el = el.previousElementSibling) {
        if (Number(el.dataset.at) <= when) break;
        before = el;
      }
      this.el.insertBefore(node, before);
    }
    this.nodes.set(key, node);
    if (stick) this.scrollToBottom();
    return node;
  }

  addMessage(m) {
    this.messages.set(m.id, m);
    return this.add('m', m.id, m.created_at, () => this.renderMessage(m));
  }

  // A message the socket changed (delivery status): each change counts, see answered().
  updateMessage(m) {
    if (!this.messages.has(m.id)) return;
    this.changes.set(m.id, (this.changes.get(m.id) || 0) + 1);
    this.addMessage({...this.messages.get(m.id), ...m});
  }

  // The API's answer about a message, unless the socket said something newer meanwhile: a reply
  // may fail (or a retry be delivered) before the request that caused it gets its answer.
  answered(m, changesBefore) {
    if (!this.messages.has(m.id)) this.addMessage(m);
    else if ((this.changes.get(m.id) || 0) === changesBefore) this.addMessage({...this.messages.get(m.id), ...m});
  }

  addEvent(event) {
    if (event.type === 'receipt.customer_read') return this.seenUpTo((event.data || {}).upto_message_id || 0);
    if (!isThreadEvent(event.type)) return;
    this.add('e', event.id, event.at, () => h('li', {class: 'event', dataset: {type: event.type}}, h('span', {}, this.describe(event)),
      h('time', {datetime: event.at, title: fmtDateTime(event.at)}, fmtTime(event.at))));
  }

  // The customer's channel said they saw the replies up to `upto`: those show "Seen".
  seenUpTo(upto) {
    if (upto <= this.seen) return;
    const before = this.seen;
    this.seen = upto;
    for (const m of [...this.messages.values()]) {
      if (m.direction === 'out' && m.id > before && m.id <= upto) this.addMessage(m);
    }
  }

  // Mail from another sender (a bounce) shows under its own From.
  author(m) {
    const from = m.direction === 'in' && ((m.metadata || {}).email || {}).from;
    if (from && from.email.toLowerCase() !== ((this.contact || {}).email || '').toLowerCase()) return from.name || from.email;
    if (m.direction === 'in') return (this.contact && this.contact.name) || this.t('conv.customer');
    return this.ctx.directory.agentName(m.author_agent_id) || this.t('conv.agent');
  }

  renderMessage(m) {
    const t = this.t;
    const kind = m.direction === 'note' ? 'note' : m.direction === 'in' ? 'in' : 'out';
    const meta = [];
    if (kind === 'note') meta.push(h('span', {class: 'note-badge'}, icon('note'), t('conv.note_badge')));
    else meta.push(h('span', {class: 'channel'}, icon(m.channel), t(`channel.${m.channel}`)));
    const body = [];
    const em = (m.metadata && m.metadata.email) || null;
    if (em && em.kind && em.kind !== 'human') meta.push(h('span', {class: 'mail-kind'}, t(`email.kind.${em.kind}`)));
    if (em && em.auth && em.auth.verified === false) meta.push(this.unverified(em));
    if (m.subject) body.push(h('p', {class: 'subject'}, m.subject));
    if (m.channel === 'email' && kind !== 'note') body.push(this.emailHead(m, em));
    body.push(this.textOf(m, em));
    if (m.html) body.push(this.htmlToggle(m));
    // The original .eml: `original` is its place among the attachments (older mail: `raw_attachment`, its id).
    const all = m.attachments || [];
    const raw = em ? (Number.isInteger(em.original) ? all[em.original] : em.raw_attachment && all.find((a) => a.id === em.raw_attachment)) : null;
    const files = all.filter((a) => a !== raw);
    if (files.length) {
      body.push(h('ul', {class: 'attachments', 'aria-label': t('conv.attachments')}, files.map((a) => {
        const url = safeUrl(a.url);
        const label = a.filename || a.url || t('conv.attachment');
        if (!url) return h('li', {}, label);
        // The hub's own files download (never open as a page); pictures show as thumbnails.
        const own = url.startsWith(`${window.location.origin}/api/v1/attachments/`);
        const link = {href: url, rel: 'noopener noreferrer nofollow', ...(own ? {download: a.filename || ''} : {target: '_blank'})};
        const thumb = own && a.kind === 'image' ? h('img', {class: 'thumb', src: url, alt: label, loading: 'lazy'}) : null;
        return h('li', {}, h('a', link, thumb, h('span', {}, label)), a.size ? h('span', {class: 'muted'}, ` ${fmtSize(a.size)}`) : null);
      })));
    }
    if (raw && safeUrl(raw.url)) {
      body.push(h('p', {class: 'original'}, h('a', {href: safeUrl(raw.url), download: 'original.eml'}, t('email.original'))));
    }
    return h('li', {class: `msg msg-${kind}`, dataset: {id: m.id}},
      h('div', {class: 'msg-head'}, h('span', {class: 'msg-author'}, this.author(m)), meta,
        h('time', {datetime: m.created_at, title: fmtDateTime(m.created_at)}, fmtTime(m.created_at))),
      h('div', {class: 'msg-body'}, body),
      kind === 'out' ? this.delivery(m) : null);
  }

  // A From the mailbox's own server could not prove (channels/email/sender_auth.py).
  unverified(em) {
    const a = em.auth;
    const hint = this.t('email.unverified_hint', {address: (em.from && em.from.email) || '', dmarc: a.dmarc || '-',
      dkim: a.dkim || '-', spf: a.spf || '-'});
    return h('span', {class: 'mail-kind mail-unverified', role: 'note', title: hint}, this.t('email.unverified'));
  }

  // From, To and CC as the mail said (inbound), or the customer and the agent's copies (a reply).
  emailHead(m, em) {
    const t = this.t;
    const who = (a) => (a.name ? `${a.name} <${a.email}>` : a.email);
    const rows = [];
    if (em && em.from) rows.push([t('email.from'), who(em.from)]);
    const to = em ? em.to || [] : [this.contact || {}];
    if ((to[0] || {}).email) rows.push([t('email.to'), to.map(who).join(', ')]);
    const cc = (em || m.metadata).cc || [];
    if (cc.length) rows.push([t('email.cc'), cc.map((a) => (typeof a === 'string' ? a : who(a))).join(', ')]);
    return h('dl', {class: 'mail-head'}, rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
  }

  // The new words of a reply, with the quoted history folded away behind a toggle.
  textOf(m, em) {
    const full = h('div', {class: 'text'}, linkify(m.text || ''));
    if (!em || !em.visible_text) return full;
    const t = this.t;
    const short = h('div', {class: 'text'}, linkify(em.visible_text));
    full.hidden = true;
    const toggle = h('button', {type: 'button', class: 'link', 'aria-expanded': 'false', onClick: () => {
      const open = full.hidden;
      full.hidden = !open;
      short.hidden = open;
      toggle.setAttribute('aria-expanded', String(open));
      toggle.textContent = t(open ? 'email.hide_quoted' : 'email.show_quoted');
    }}, t('email.show_quoted'));
    return h('div', {}, short, full, toggle);
  }

  delivery(m) {
    const t = this.t;
    const status = m.delivery_status || 'pending';
    const parts = [h('span', {class: `delivery delivery-${status}`}, t(`delivery.${status}`))];
    if (m.id <= this.seen) parts.push(h('span', {class: 'delivery-seen'}, t('delivery.seen')));
    if (m.channel === 'sms') parts.push(h('span', {class: 'segments'}, t('sms.segments', {count: smsSegments(m.text || '').segments})));
    if (m.delivery_error && (status === 'failed' || status === 'undelivered')) {
      const w = (m.metadata || {}).delivery_reason;
      const reason = (w && w.error === m.delivery_error && said(t, w)) || m.delivery_error;
      parts.push(h('span', {class: 'delivery-error', role: 'note'}, t('delivery.reason', {reason})));
    }
    if (status === 'failed') {
      parts.push(this.retryButton(m));
    } else if (status === 'undelivered') {
      // The provider took it and could not deliver it: sending the same again may not help.
      parts.push(h('span', {class: 'muted'}, t('delivery.no_retry')));
    } else if (m.delivery_error && m.delivery_error.startsWith('retrying')) {
      parts.push(h('span', {class: 'muted'}, t('delivery.retrying')));
    }
    return h('div', {class: 'msg-foot'}, parts);
  }

  // A reply that failed for good goes back to the outbox; its status follows from the socket
  // (delivery.retried, then delivery.status_changed).
  retryButton(m) {
    const error = h('span', {class: 'error', role: 'alert', hidden: true});
    const button = h('button', {type: 'button', class: 'link retry', dataset: {action: 'retry'}, onClick: async () => {
      button.disabled = true;
      error.hidden = true;
      const before = this.changes.get(m.id) || 0;
      try {
        this.answered(await this.ctx.api('POST', `/api/v1/conversations/${m.conversation_id}/messages/${m.id}/retry`), before);
        // The message was drawn again without this button: focus its new status, which is read out.
        const node = this.nodes.get(`m:${m.id}`);
        if (node && !node.contains(document.activeElement)) keepFocus(node, button);
      } catch (err) {
        button.disabled = false;
        error.textContent = this.t('delivery.retry_failed', {message: explain(err)});
        error.hidden = false;
      }
    }}, this.t('delivery.retry'));
    return h('span', {class: 'retry-wrap'}, button, error);
  }

  // The formatted version is a document of its own (agents_ui/api/message_html.py), framed without
  // allow-scripts: nothing in it runs, under a policy of its own that lets remote images load only
  // in the answer to "Show images" (images=show). A srcdoc frame would inherit the console's policy
  // (img-src 'self' data:), which no click could relax. The frame keeps the hub's origin
  // (allow-same-origin, here and in the answer's CSP `sandbox`) only so that the console can read
  // its document's height: with no script of its own, the document cannot use that origin.
  htmlToggle(m) {
    const t = this.t;
    const holder = h('div', {class: 'html-holder'});
    const url = `/api/v1/conversations/${m.conversation_id}/messages/${m.id}/html`;
    const frame = (images) => {
      const more = h('button', {type: 'button', class: 'link frame-more', hidden: true, 'aria-expanded': 'false'}, t('conv.show_more'));
      const el = h('iframe', {class: 'html-frame', sandbox: 'allow-same-origin', title: t('conv.formatted'),
        referrerpolicy: 'no-referrer', src: images ? `${url}?images=show` : url});
      el.addEventListener('load', () => fitFrame(el, more, t));
      more.addEventListener('click', () => {
        el.classList.toggle('expanded');
        fitFrame(el, more, t);
      });
      return [el, more];
    };
    // Each button gives way to what it shows, as the frame to the text it repeats; focus goes there.
    const button = h('button', {type: 'button', class: 'link', onClick: () => {
      holder.previousSibling.hidden = true;
      if (!(m.html || '').includes('data-remote-src')) {
        fill(holder, frame(false));
        holder.querySelector('iframe').focus();
        return;
      }
      const show = h('button', {type: 'button', class: 'link show-images', onClick: () => {
        fill(holder, frame(true));
        holder.querySelector('iframe').focus();
      }}, t('conv.show_images'));
      fill(holder, h('p', {class: 'muted images-blocked'}, t('conv.images_blocked'), ' ', show), frame(false));
      show.focus();
    }}, t('conv.show_formatted'));
    holder.appendChild(button);
    return holder;
  }

  describe(event) {
    const t = this.t;
    const d = event.data || {};
    const who = event.actor_agent_id ? this.ctx.directory.agentName(event.actor_agent_id) : t('conv.routing');
    const agent = (id) => this.ctx.directory.agentName(id);
    const team = (id) => this.ctx.directory.teamName(id) || t('common.none');
    switch (event.type) {
      case 'conversation.assigned':
        return d.assignee_id ? t('event.assigned', {who, agent: agent(d.assignee_id)}) : t('event.unassigned', {who});
      case 'conversation.transferred':
        return t('event.transferred', {who, team: team(d.team_id)});
      case 'conversation.requeued':
        return t('event.requeued', {agent: agent(d.from_assignee_id) || who});
      case 'conversation.escalated':
        return t('event.escalated', {team: team(d.team_id)});
      case 'conversation.status_changed':
        return d.reason === 'customer_message' ? t('event.reopened_by_customer')
          : t('event.status', {who, status: t(`status.${d.to}`)});
      case 'conversation.queued':
        return t('event.queued', {team: team(d.team_id)});
      case 'conversation.offered':
        return t('event.offered', {agent: agent(d.agent_id)});
      case 'conversation.offer_withdrawn':
        return t('event.offer_withdrawn', {agent: agent(d.agent_id)});
      case 'sla.at_risk':
        return t('event.sla_at_risk', {due: fmtDateTime(d.due_at)});
      case 'sla.breached':
        return t('event.sla_breached', {due: fmtDateTime(d.due_at)});
      case 'conversation.rated':
        return d.comment ? t('event.rated_comment', {who: this.author({direction: 'in'}), score: d.score, comment: d.comment})
          : t('event.rated', {who: this.author({direction: 'in'}), score: d.score});
      default:
        return event.type;
    }
  }
}

// Sizes an email's frame to its document (read from here: the frame runs no script to tell), up to
// FRAME_CAP_PX unless opened with "Show more"; again as its pictures arrive or the frame's width
// changes. A document the frame navigated away to (a link) cannot be read: left as is.
function fitFrame(frame, more, t) {
  let doc;
  try { doc = frame.contentDocument; } catch { doc = null; }
  if (!doc || !doc.documentElement) return;
  const measure = () => {
    if (!frame.isConnected) return;
    const root = doc.documentElement;
    const content = Math.ceil(Math.max(root.getBoundingClientRect().height, doc.body ? doc.body.scrollHeight : 0));
    const border = frame.offsetHeight - frame.clientHeight;
    const scrollbar = root.scrollWidth > root.clientWidth ? 16 : 0;  // a wide table scrolls sideways
    const full = content + border + scrollbar;
    const open = frame.classList.contains('expanded');
    const capped = full > FRAME_CAP_PX;
    frame.style.height = `${capped && !open ? FRAME_CAP_PX : full}px`;
    frame.dataset.contentHeight = String(full);
    more.hidden = !capped;
    more.setAttribute('aria-expanded', String(open));
    more.textContent = t(open ? 'conv.show_less' : 'conv.show_more');
  };
  measure();
  if (!frame.fitObserver) {
    // The frame's own width (an observer of the framed document is not called across documents).
    let width = frame.clientWidth;
    frame.fitObserver = new ResizeObserver(() => {
      if (frame.clientWidth !== width) { width = frame.clientWidth; measure(); }
    });
    frame.fitObserver.observe(frame);
    for (const img of doc.images) img.addEventListener('load', measure);
  }
}

// A message drawn again (its delivery status changed) while focus was in it: focus goes to the same
// control if it is still there, else to its status (read out), else to the message itself.
// Why a send failed, in the agent's language (hub/delivery/actions.py keeps the reason with the
// words it explains); a foreign server's own words stay as they are. Null: no sentence for it.
function said(t, w) {
  const key = `delivery.why.${w.reason}`, p = w.params || {};
  const then = w.then && said(t, w.then);
  return t(key) === key || (w.then && !then) ? null : t(key, {...p, count: p.attempts, then});
}

function keepFocus(node, was) {
  const action = was.dataset && was.dataset.action;
  const target = (action && node.querySelector(`[data-action="${action}"]`)) || node.querySelector('.delivery') || node;
  if (!target.matches('button, a[href], input, select, textarea, iframe')) target.tabIndex = -1;
  target.focus({preventScroll: true});
}
