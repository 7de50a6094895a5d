// The agent websocket with the resume protocol of agents_ui/ws.py: it remembers the last event id
// it delivered, resumes from there after any disconnect (network, sleep, hub restart) and drops
// anything at or below it, so listeners see every event once, in order. On `resync_required` it
// asks its owner to reload through the API (onResync), then resumes from the head.
//
// Close codes (agents_ui/ws.py): 4401 the session ended, 1008 not logged in: no reconnecting, the
// owner is told (onSessionEnded) and sends the agent to the login page. 4409 resync required.
// Anything else (a network drop, a hub restart, 1003/1009 for a frame the hub refused, 1011) is
// retried with backoff.

const PING_EVERY_MS = 10000;
const PONG_TIMEOUT_MS = 5000;
const SESSION_ENDED = new Set([4401, 1008]);
const RESYNC = 4409;
// What listeners of every event ('*') are not given: the socket's own news, and hints (no id).
const NOT_EVENTS = new Set(['state', 'ready', 'resync', 'typing', 'viewers', 'customer']);

export class HubSocket {
  constructor({path = '/ws/agent', onResync = async () => {}, onSessionEnded = () => {}} = {}) {
    this.path = path;
    this.onResync = onResync;
    this.onSessionEnded = onSessionEnded;
    this.lastEventId = 0;
    this.listeners = new Map();
    this.ws = null;
    this.state = 'connecting';
    this.attempt = 0;
    this.everReady = false;
    this.stopped = false;
    this.timer = null;
    this.pingTimer = null;
    this.pongTimer = null;
    this.resyncHead = null;
    window.addEventListener('online', () => this.reconnectNow());
    window.addEventListener('offline', () => this.drop());
  }

  on(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type).add(fn);
    return () => this.listeners.get(type).delete(fn);
  }

  emit(type, value) {
    for (const key of [type, '*']) {
      if (key === '*' && NOT_EVENTS.has(type)) continue;
      for (const fn of this.listeners.get(key) || []) {
        try { fn(value); } catch (err) { console.error('hub socket listener', err); }
      }
    }
  }

  setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.emit('state', state);
  }

  connect() {
    if (this.stopped) return;
    clearTimeout(this.timer);
    const scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${scheme}//${window.location.host}${this.path}`);
    this.ws = ws;
    this.setState('connecting');
    ws.onopen = () => ws.send(JSON.stringify({type: 'resume', last_event_id: this.lastEventId}));
    ws.onmessage = (msg) => this.receive(ws, msg.data);
    ws.onclose = (ev) => this.closed(ws, ev.code);
    ws.onerror = () => {};
  }

  receive(ws, raw) {
    if (ws !== this.ws) return;
    let frame;
    try { frame = JSON.parse(raw); } catch { return; }
    if (typeof frame.id === 'number') {
      if (frame.id <= this.lastEventId) return; // seen before: a replay after a resume
      this.lastEventId = frame.id;
      this.emit(frame.type, frame);
      return;
    }
    if (frame.type === 'ready') {
      this.lastEventId = Math.max(this.lastEventId, frame.last_event_id || 0);
      const resumed = this.everReady;
      this.everReady = true;
      this.attempt = 0;
      this.setState('online');
      this.startPing();
      this.emit('ready', {resumed});
    } else if (frame.type === 'resync_required') {
      this.resyncHead = frame.head_event_id;
    } else if (frame.type === 'pong') {
      clearTimeout(this.pongTimer);
    } else if (frame.type === 'typing' || frame.type === 'viewers') {
      this.emit(frame.type, frame); // a hint (hub/hints.py, hub/viewers.py): no id, never replayed
    } else if (frame.type === 'customer') {
      this.emit(frame.type, frame); // the sidebar's customer is followed (agents_ui/ws_customer.py)
    }
  }

  async closed(ws, code) {
    if (ws !== this.ws) return;
    this.stopPing();
    this.ws = null;
    if (this.stopped) return;
    if (SESSION_ENDED.has(code)) {
      // Reconnecting cannot help: the hub refuses this session until the agent logs in again.
      this.stopped = true;
      clearTimeout(this.timer);
      this.setState('ended');
      this.onSessionEnded(code);
      return;
    }
    if (this.resyncHead !== null || code === RESYNC) {
      // Too far behind to replay: reload everything, then go on from the head (from now on, if
      // the hub's resync_required frame was lost with the connection).
      const head = this.resyncHead ?? 0;
      this.resyncHead = null;
      this.lastEventId = head;
      this.emit('resync', {head});
      try { await this.onResync(); } catch (err) { console.error('resync', err); }
      this.connect();
      return;
    }
    this.setState('offline');
    const delay = Math.min(15000, 500 * 2 ** this.attempt) * (0.75 + Math.random() / 2);
    this.attempt += 1;
    this.timer = setTimeout(() => this.connect(), navigator.onLine === false ? 15000 : delay);
  }

  // The network went away: close now instead of waiting for TCP to notice.
  drop() {
    if (this.ws) {
      const ws = this.ws;
      ws.close();
      this.closed(ws);
    }
  }

  reconnectNow() {
    if (this.stopped || this.ws) return;
    this.attempt = 0;
    this.connect();
  }

  startPing() {
    this.stopPing();
    this.pingTimer = setInterval(() => {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return;
      this.ws.send(JSON.stringify({type: 'ping'}));
      clearTimeout(this.pongTimer);
      this.pongTimer = setTimeout(() => this.drop(), PONG_TIMEOUT_MS);
    }, PING_EVERY_MS);
  }

  stopPing() {
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
  }

  // A frame for the hub if connected (hints: losing one while offline does not matter); false if not.
  send(frame) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  setPresence(presence) { return this.send({type: 'presence', presence}); }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.stopPing();
    if (this.ws) this.ws.close();
  }
}
