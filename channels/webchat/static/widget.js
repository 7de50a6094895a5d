/* The web chat widget, mounted by loader.js into a shadow root. Plain script, no build step.
 * Every text a person reads comes from the hub's translation files (GET /widget/config/ID?lang=);
 * customer and agent text is only ever inserted as text (textContent, text nodes).
 * Protocol: channels/webchat/socket.py. */
(function () {
  "use strict";

  var CSS = [
    ":host{all:initial!important;display:block!important;position:fixed!important;right:20px!important;",
    "bottom:20px!important;z-index:2147483647!important;visibility:visible!important;opacity:1!important;",
    "transform:none!important;font:14px/1.4 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif!important;color:#1d2330!important}",
    "*{box-sizing:border-box;font:inherit;color:inherit;margin:0}",
    ".launcher{display:block;margin-left:auto;border:0;border-radius:24px;padding:12px 18px;cursor:pointer;",
    "background:var(--hw-accent,#2457c5);color:#fff;box-shadow:0 4px 14px rgba(0,0,0,.25)}",
    ".launcher:focus-visible,button:focus-visible,input:focus-visible,textarea:focus-visible{outline:3px solid #f4b400;outline-offset:2px}",
    ".panel{display:flex;flex-direction:column;width:340px;max-width:calc(100vw - 40px);height:480px;",
    "max-height:calc(100vh - 100px);margin-bottom:12px;background:#fff;border-radius:12px;overflow:hidden;",
    "box-shadow:0 8px 30px rgba(0,0,0,.3)}",
    ".panel[hidden]{display:none}",
    "header{display:flex;align-items:center;justify-content:space-between;padding:12px 14px;background:var(--hw-accent,#2457c5);color:#fff}",
    "header h2{font-weight:600;font-size:15px}",
    ".x{border:0;background:transparent;color:#fff;cursor:pointer;font-size:18px;padding:0 4px}",
    ".log{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:8px;background:#f5f6f8}",
    ".msg{max-width:80%;padding:8px 10px;border-radius:10px;white-space:pre-wrap;overflow-wrap:anywhere;background:#fff;border:1px solid #dde1e8}",
    ".msg.in{align-self:flex-end;background:var(--hw-accent,#2457c5);color:#fff;border-color:transparent}",
    ".msg.out{align-self:flex-start}",
    ".who{display:block;font-size:12px;font-weight:600;margin-bottom:2px;opacity:.8}",
    ".msg.pending{opacity:.6}",
    ".seen{align-self:flex-end;margin-top:-4px;font-size:11px;color:#5b6475}",
    ".note{align-self:center;font-size:12px;color:#5b6475;text-align:center}",
    ".typing{padding:0 12px;font-size:12px;font-style:italic;color:#5b6475;background:#f5f6f8}",
    ".typing:empty{display:none}",
    ".away{padding:8px 12px;font-size:13px;background:#fff8e1;border-bottom:1px solid #dde1e8}",
    ".away[hidden]{display:none}",
    ".away form{padding:6px 0 0;border:0;background:transparent}",
    ".queue{padding:6px 12px;font-size:12px;color:#1d2330;background:#e8eefb;border-top:1px solid #dde1e8}",
    ".queue:empty{display:none}",
    ".status{padding:4px 12px;font-size:12px;color:#8a1f11;background:#fff4e5}",
    ".status:empty{display:none}",
    "form{display:flex;gap:8px;padding:10px;border-top:1px solid #dde1e8;background:#fff}",
    "form.prechat{flex-direction:column}",
    "textarea,input{flex:1;border:1px solid #b9c0cc;border-radius:8px;padding:8px;resize:none;background:#fff;color:#1d2330}",
    "label{display:flex;flex-direction:column;gap:4px;font-size:13px}",
    ".err{color:#8a1f11;font-size:12px}",
    "form button{border:0;border-radius:8px;padding:8px 14px;cursor:pointer;background:var(--hw-accent,#2457c5);color:#fff}",
    // files (attach, thumbnails, links)
    "form button.attach{padding:8px;background:#fff;color:#1d2330;border:1px solid #b9c0cc}",
    "input[type=file]{display:none}",
    ".icon{width:18px;height:18px;fill:none;stroke:currentColor;stroke-width:2;stroke-linecap:round;stroke-linejoin:round;vertical-align:-4px}",
    ".file{display:block;margin-top:4px;color:inherit;text-decoration:underline;overflow-wrap:anywhere}",
    ".file .icon{margin-right:4px}",
    ".file img{display:block;max-width:100%;max-height:160px;border-radius:6px;background:#eef0f4}",
    // rating (CSAT)
    "form.rating{flex-direction:column;align-self:stretch;border:1px solid #dde1e8;border-radius:10px}",
    ".stars{display:flex;gap:2px}",
    "form .stars button{background:transparent;color:#8a93a3;font-size:24px;line-height:1;padding:2px 4px}",
    "form .stars button.on{color:#a86f00}"
  ].join("");

  function h(tag, attrs) {
    var el = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") el.textContent = attrs[k];
      else if (k.slice(0, 2) === "on") el.addEventListener(k.slice(2), attrs[k]);
      else el.setAttribute(k, attrs[k]);
    });
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c != null) el.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    }
    return el;
  }

  function randomId() {
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return Array.prototype.map.call(b, function (x) { return ("0" + x.toString(16)).slice(-2); }).join("");
  }

  function Widget(root, host, opts, config) {
    this.root = root;
    this.opts = opts;
    this.cfg = config;
    this.t = config.texts;
    this.key = "hubwebchat:" + opts.base + ":" + config.id;
    this.state = this.load();
    this.shown = {};       // message id -> element
    this.pendingEls = {};  // client id -> element
    this.lastEventId = 0;
    this.lastOut = null;   // the latest agent reply shown: {c: conversation id, id: message id}
    this.reported = 0;     // the reply the hub was told the visitor saw
    this.retry = 1000;
    this.ws = null;
    this.stopped = false;
    host.style.setProperty("--hw-accent", config.colour);
    var self = this;
    document.addEventListener("visibilitychange", function () { self.reportSeen(); });
    this.render();
    this.connect();
    this.watchNetwork();
    if (this.state.open) this.toggle(true);
  }

  Widget.prototype.load = function () {
    var s = {};
    try { s = JSON.parse(localStorage.getItem(this.key) || "{}") || {}; } catch (e) { s = {}; }
    s.pending = Array.isArray(s.pending) ? s.pending : [];
    return s;
  };

  Widget.prototype.save = function () {
    try { localStorage.setItem(this.key, JSON.stringify(this.state)); } catch (e) { /* private mode: this page only */ }
  };

  Widget.prototype.render = function () {
    var self = this, t = this.t;
    var sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    this.root.adoptedStyleSheets = [sheet];
    this.log = h("div", { "class": "log", role: "log", "aria-live": "polite" },
      h("p", { "class": "note greeting", text: this.cfg.greeting }));
    this.status = h("div", { "class": "status", role: "status" });
    this.typingNote = h("div", { "class": "typing", "aria-live": "polite" });
    this.queueLine = h("div", { "class": "queue", role: "status" });
    this.awayBox = h("div", { "class": "away", role: "status", hidden: "" });
    this.text = h("textarea", { rows: "2", placeholder: t.placeholder, "aria-label": t.placeholder,
      oninput: function () { self.typing(); },
      onkeydown: function (e) { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); self.submit(); } } });
    this.composer = h("form", { "class": "composer", onsubmit: function (e) { e.preventDefault(); self.submit(); } },
      this.attachButton(), this.text, h("button", { type: "submit", text: t.send }));
    this.panel = h("section", { "class": "panel", hidden: "", "aria-label": this.cfg.name },
      h("header", {}, h("h2", { text: this.cfg.name }),
        h("button", { "class": "x", type: "button", "aria-label": t.close, text: "×",
          onclick: function () { self.toggle(false); } })),
      this.awayBox, this.log, this.queueLine, this.typingNote, this.status, this.needsPrechat() ? this.prechatForm() : this.composer);
    this.launcher = h("button", { "class": "launcher", type: "button", "aria-expanded": "false", text: t.open,
      onclick: function () { self.toggle(self.panel.hidden); } });
    this.root.appendChild(this.panel);
    this.root.appendChild(this.launcher);
  };

  Widget.prototype.toggle = function (open) {
    this.panel.hidden = !open;
    this.launcher.setAttribute("aria-expanded", String(open));
    this.state.open = open;
    this.save();
    if (open) (this.panel.querySelector("input, textarea") || this.launcher).focus();
    this.reportSeen();
  };

  Widget.prototype.needsPrechat = function () {
    return this.cfg.prechat_fields.length > 0 && !this.state.prechat && !this.opts.identity;
  };

  Widget.prototype.prechatForm = function () {
    var self = this, t = this.t, inputs = {};
    var form = h("form", { "class": "prechat", novalidate: "" }, h("p", { text: t.prechat_intro }));
    this.cfg.prechat_fields.forEach(function (f) {
      var required = self.cfg.prechat_required.indexOf(f) >= 0;
      inputs[f] = h("input", { name: f, type: f === "email" ? "email" : "text", autocomplete: f });
      if (required) inputs[f].setAttribute("required", "");
      inputs[f].err = h("span", { "class": "err", "aria-live": "polite" });
      form.appendChild(h("label", {}, t["prechat_" + f] + (required ? "" : " " + t.prechat_optional),
        inputs[f], inputs[f].err));
    });
    form.appendChild(h("button", { type: "submit", text: t.prechat_start }));
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var values = {}, ok = true;
      Object.keys(inputs).forEach(function (f) {
        var v = inputs[f].value.trim(), err = "";
        if (!v && inputs[f].required) err = t.error_required;
        else if (v && f === "email" && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(v)) err = t.error_email;
        inputs[f].err.textContent = err;
        ok = ok && !err;
        if (v) values[f] = v;
      });
      if (!ok) return;
      self.state.prechat = values;
      self.save();
      if (self.awayFrame) self.away(self.awayFrame);  // its email answers the away notice
      self.send({ type: "prechat", name: values.name || "", email: values.email || "" });
      form.replaceWith(self.composer);
      self.text.focus();
    });
    return form;
  };

  Widget.prototype.connect = function () {
    var self = this;
    var url = this.opts.base.replace(/^http/, "ws") + "/ws/widget?widget=" + encodeURIComponent(this.cfg.id);
    var ws = this.ws = new WebSocket(url);
    ws.onopen = function () {
      ws.send(JSON.stringify({ type: "hello", token: self.state.token || null, last_event_id: self.lastEventId,
        identity: self.opts.identity, prechat: self.state.prechat || null }));
    };
    ws.onmessage = function (m) { self.receive(JSON.parse(m.data)); };
    ws.onclose = function (e) {
      if (self.ws !== ws || self.stopped) return;
      if (e.code === 4403 || e.code === 1008) {
        self.stopped = true;
        self.say(e.code === 4403 ? self.t.error_identity : self.t.error_origin);
        return;
      }
      self.say(self.t.reconnecting);
      var wait = Math.min(self.retry, 30000) * (0.75 + Math.random() / 2);
      self.retry = Math.min(self.retry * 2, 30000);
      self.retryTimer = setTimeout(function () { self.connect(); }, wait);
    };
  };

  // The browser knows of a lost network long before a socket does: drop the socket when it goes
  // offline, and reconnect at once when it is back (the hello resumes after the last event shown).
  Widget.prototype.watchNetwork = function () {
    var self = this;
    window.addEventListener("offline", function () { if (self.ws && !self.stopped) self.ws.close(); });
    window.addEventListener("online", function () {
      if (self.stopped || (self.ws && self.ws.readyState < 2)) return;
      clearTimeout(self.retryTimer);
      self.retry = 1000;
      self.connect();
    });
  };

  Widget.prototype.send = function (frame) {
    if (this.ws && this.ws.readyState === 1) this.ws.send(JSON.stringify(frame));
  };

  Widget.prototype.say = function (text) { this.status.textContent = text || ""; };

  Widget.prototype.receive = function (f) {
    var self = this;
    if (f.type === "welcome") {
      this.retry = 1000;
      this.say("");
      this.state.token = f.token;
      this.save();
      this.state.pending.forEach(function (p) { self.resend(p); });
    } else if (f.type === "event") {
      if (f.id <= this.lastEventId) return;
      this.lastEventId = f.id;
      if (f.event === "message.created" && f.data.direction === "out") this.typingNote.textContent = "";
      this.event(f);
    } else if (f.type === "ack") {
      this.acked(f.client_id, f.message_id);
    } else if (f.type === "error") {
      this.failed(f);
    } else if (f.type === "availability") {
      this.away(f);
    } else if (f.type === "email_ok") {
      this.state.email = f.email;
      this.save();
      this.away(this.awayFrame);
    } else if (f.type === "queue") {
      this.queued(f);
    } else if (f.type === "typing") {
      this.typingNote.textContent = this.t.typing.replace("{name}", f.name || this.t.agent);
      clearTimeout(this.typingTimer);
      this.typingTimer = setTimeout(function () { self.typingNote.textContent = ""; }, 5000);
    }
  };

  // At most one hint every 3 s while the visitor types (the hub throttles too).
  Widget.prototype.typing = function () {
    var now = Date.now();
    if (now - (this.typedAt || 0) < 3000) return;
    this.typedAt = now;
    this.send({ type: "typing" });
  };

  Widget.prototype.event = function (f) {
    var d = f.data || {}, t = this.t;
    if (f.event === "message.created") {
      if (this.shown[d.id]) { this.files(this.shown[d.id], d.attachments); return; }
      var who = d.direction === "in" ? t.you : (d.agent_name || t.agent);
      this.shown[d.id] = this.bubble(d.direction, who, d.text || "");
      this.files(this.shown[d.id], d.attachments);
      this.shown[d.id].dataset.id = d.id;
      if (d.direction === "out") { this.lastOut = { c: f.conversation_id, id: d.id }; this.reportSeen(); }
    } else if (f.event === "receipt.agent_read") {
      this.seenUpTo(d.upto_message_id);
    } else if (f.event === "conversation.assigned" && d.agent_name) {
      this.queueLine.textContent = "";
      this.awayBox.hidden = true;  // someone is here after all
      this.note(t.joined.replace("{name}", d.agent_name));
    } else if (f.event === "conversation.resolved") {
      this.queueLine.textContent = "";
      this.note(t.resolved);
      this.askRating(f.conversation_id);
    } else if (f.event === "conversation.reopened") {
      this.dropRating();
      this.note(t.reopened);
    } else if (f.event === "conversation.rated") {
      this.dropRating();
      this.note(t.rate_thanks);
    }
  };

  // Nobody can chat now (outside business hours, or no agent online): say so, and ask for an
  // email address so the answer reaches the visitor by email (channels/webchat/away.py).
  Widget.prototype.away = function (f) {
    var self = this, t = this.t, box = this.awayBox;
    this.awayFrame = f;
    box.hidden = !f || f.open;
    if (box.hidden) return;
    while (box.firstChild) box.removeChild(box.firstChild);
    box.appendChild(h("p", { text: f.reason === "closed" ? t.away_closed : t.away_no_agents }));
    var email = this.state.email || (this.state.prechat || {}).email;
    if (email) { box.appendChild(h("p", { text: t.away_saved.replace("{email}", email) })); return; }
    var input = h("input", { type: "email", autocomplete: "email", "aria-label": t.away_email, placeholder: t.away_email });
    var err = h("span", { "class": "err", "aria-live": "polite" });
    box.appendChild(h("p", { text: t.away_leave }));
    box.appendChild(h("form", { novalidate: "", onsubmit: function (e) {
      e.preventDefault();
      var v = input.value.trim();
      err.textContent = /^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(v) ? "" : t.error_email;
      if (!err.textContent) self.send({ type: "email", email: v });
    } }, input, h("button", { type: "submit", text: t.away_save })));
    box.appendChild(err);
    this.awayErr = err;
  };

  // The visitor's place in the queue, as the hub pushes it (channels/webchat/queue.py): cleared
  // when an agent takes the conversation (position null, or their "joined" event).
  Widget.prototype.queued = function (f) {
    var t = this.t, line = "";
    if (f.position) {
      line = f.position === 1 ? t.queue_next : t.queue_position.replace("{position}", f.position);
      if (f.wait_minutes) line += " · " + t.queue_wait.replace("{minutes}", f.wait_minutes);
    }
    this.queueLine.textContent = line;
  };

  // Read receipts. "Seen" goes under the visitor's latest message an agent has read (one line,
  // moved down as agents read on); the hub is told which agent replies the visitor saw (the
  // panel open and the page visible), each reply once.
  Widget.prototype.seenUpTo = function (upto) {
    var best = null;
    this.log.querySelectorAll(".msg.in").forEach(function (el) {
      if (Number(el.dataset.id) <= upto) best = el;
    });
    if (!best) return;
    this.seenEl = this.seenEl || h("p", { "class": "seen", text: this.t.seen });
    best.after(this.seenEl);
  };

  Widget.prototype.reportSeen = function () {
    var self = this;
    if (this.seenTimer) return;  // a replayed history is reported once, after its last reply
    this.seenTimer = setTimeout(function () {
      var o = self.lastOut;
      self.seenTimer = null;
      if (!o || o.id <= self.reported || self.panel.hidden || document.hidden) return;
      self.reported = o.id;
      self.send({ type: "seen", conversation_id: o.c, upto: o.id });
    }, 300);
  };

  Widget.prototype.bubble = function (direction, who, text) {
    var el = h("p", { "class": "msg " + direction }, h("span", { "class": "who", text: who }), text);
    this.log.appendChild(el);
    this.log.scrollTop = this.log.scrollHeight;
    return el;
  };

  Widget.prototype.note = function (text) {
    this.log.appendChild(h("p", { "class": "note", text: text }));
    this.log.scrollTop = this.log.scrollHeight;
  };

  Widget.prototype.submit = function (files) {
    var text = this.text.value.trim();
    files = files || [];
    if (!text && !files.length) return;
    var p = { client_id: randomId(), text: text, files: files.map(function (f) { return f.file; }) };
    this.text.value = "";
    this.typedAt = 0;  // the next keystroke starts a new hint
    this.state.pending.push(p);
    this.save();
    var el = this.bubble("in", this.t.you, text);
    el.classList.add("pending");
    el.setAttribute("title", this.t.sending);
    files.forEach(function (f) { el.appendChild(h("span", { "class": "file", text: f.filename })); });
    this.pendingEls[p.client_id] = el;
    this.resend(p);
  };

  Widget.prototype.resend = function (p) {
    this.send({ type: "message", client_id: p.client_id, text: p.text, files: p.files && p.files.length ? p.files : undefined });
  };

  Widget.prototype.drop = function (clientId) {
    this.state.pending = this.state.pending.filter(function (p) { return p.client_id !== clientId; });
    this.save();
    var el = this.pendingEls[clientId];
    delete this.pendingEls[clientId];
    return el;
  };

  Widget.prototype.acked = function (clientId, messageId) {
    var el = this.drop(clientId);
    if (!el) return;
    if (this.shown[messageId]) { el.remove(); return; }  // its event came first
    el.classList.remove("pending");
    el.removeAttribute("title");
    el.dataset.id = messageId;
    this.shown[messageId] = el;
  };

  Widget.prototype.failed = function (f) {
    if (f.field === "email" && this.awayErr) { this.awayErr.textContent = this.t.error_email; return; }
    var self = this, t = this.t, p = this.state.pending.filter(function (x) { return x.client_id === f.client_id; })[0];
    if (f.field === "rating") return this.rating && (this.rating.err.textContent = t.rate_failed);
    if (f.code === "rate_limited" || f.code === "unavailable") {
      this.say(f.code === "rate_limited" ? t.error_rate_limited : t.not_sent);
      if (p) setTimeout(function () { self.resend(p); },
        Math.max(1, f.retry_after || 2) * 1000);
    } else if (p) {
      var el = this.drop(f.client_id);
      if (el) el.remove();
      this.say(f.field === "text" && /at most/.test(f.message || "") ? t.error_too_long
        : f.field === "files" ? t.error_file_failed : t.error_rejected);
    }
  };

  function mount(root, host, opts) {
    var lang = (opts.lang || "en").slice(0, 2).toLowerCase();
    fetch(opts.base + "/widget/config/" + encodeURIComponent(opts.widget) + "?lang=" + encodeURIComponent(lang))
      .then(function (r) { if (!r.ok) throw new Error("widget " + opts.widget + ": " + r.status); return r.json(); })
      .then(function (config) { host.widget = new Widget(root, host, opts, config); })
      .catch(function (e) { if (window.console) console.warn("web chat:", e.message); });
  }

  // widget-files.js and widget-rating.js (loaded after this by loader.js) add their methods to Widget.
  window.HubWebchat = { mount: mount, Widget: Widget, h: h };
})();
