/* The web chat widget's files (loaded by loader.js after widget.js, before the widget is mounted):
 * methods of its Widget. No build step: plain script, served as is. */
(function () {
  "use strict";
  var Widget = window.HubWebchat.Widget, h = window.HubWebchat.h;

  // Line icons (Feather, MIT): a paper clip, a document. SVG built node by node, never parsed.
  var CLIP = "M21.44 11.05l-9.19 9.19a6 6 0 0 1-8.49-8.49l9.19-9.19a4 4 0 0 1 5.66 5.66l-9.2 9.19a2 2 0 0 1-2.83-2.83l8.49-8.48";
  var DOC = "M13 2H6a2 2 0 0 0-2 2v16a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V9z|M13 2v7h7";
  var SAFE_TYPES = ["image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf"];  // files.py ACCEPTED

  function icon(paths) {
    var ns = "http://www.w3.org/2000/svg", svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("class", "icon");
    paths.split("|").forEach(function (d) {
      var path = document.createElementNS(ns, "path");
      path.setAttribute("d", d);
      svg.appendChild(path);
    });
    return svg;
  }

  // -- files: a picture or PDF sent by the visitor (POST /widget/upload), and the files of messages,
  // fetched with the visitor token (channels/webchat/files.py) and shown from blob: URLs.
  Widget.prototype.attachButton = function () {
    var self = this, t = this.t, input = h("input", { type: "file", tabindex: "-1", "aria-hidden": "true",
      accept: this.cfg.files.types.join(","), onchange: function () {
        var file = input.files[0];
        input.value = "";
        if (file) self.upload(file);
      } });
    var both = document.createDocumentFragment();
    both.appendChild(input);
    both.appendChild(h("button", { "class": "attach", type: "button", title: t.attach, "aria-label": t.attach,
      onclick: function () { input.click(); } }, icon(CLIP)));
    return both;
  };

  Widget.prototype.upload = function (file) {
    var self = this, t = this.t, limit = this.cfg.files.max_bytes;
    var tooBig = t.error_file_size.replace("{size}", limit < 1048576 ? Math.round(limit / 1024) + " KB"
      : (limit / 1048576).toFixed(limit % 1048576 ? 1 : 0) + " MB");
    if (file.size > limit) return this.say(tooBig);
    if (file.type && this.cfg.files.types.indexOf(file.type) < 0) return this.say(t.error_file_type);
    this.say(t.uploading);
    fetch(this.opts.base + "/widget/upload?widget=" + encodeURIComponent(this.cfg.id) + "&name=" +
      encodeURIComponent(file.name), { method: "POST", body: file, credentials: "omit",
      headers: { "Authorization": "Bearer " + this.state.token, "Content-Type": file.type || "application/octet-stream" } })
      .then(function (r) { return r.json().then(function (b) { return { status: r.status, body: b }; }); })
      .then(function (r) {
        if (r.status !== 201) {
          return self.say(r.status === 413 ? tooBig : r.status === 415 ? t.error_file_type
            : r.status === 429 ? t.error_rate_limited : t.error_file_failed);
        }
        self.say("");
        self.submit([r.body]);
      })
      .catch(function () { self.say(t.error_file_failed); });
  };

  Widget.prototype.files = function (el, list) {
    var self = this;
    if (!list || !list.length || el.filesShown) return;
    el.filesShown = true;
    [].forEach.call(el.querySelectorAll(".file"), function (x) { x.remove(); });  // the pending names
    list.forEach(function (a) {
      var name = a.filename || self.t.file, link = h("a", { "class": "file", href: "#", download: name, title: name });
      if (a.kind === "image") {
        var img = h("img", { alt: name });
        link.appendChild(img);
        self.fetchFile(a, function (url) { img.src = url; link.href = url; });
      } else {
        link.appendChild(icon(DOC));
        link.appendChild(document.createTextNode(name));
        link.addEventListener("click", function (e) {
          if (link.href.slice(0, 5) === "blob:") return;
          e.preventDefault();
          self.fetchFile(a, function (url) { link.href = url; link.click(); });
        });
      }
      el.appendChild(link);
    });
  };

  Widget.prototype.fetchFile = function (a, then) {
    var self = this;
    fetch(this.opts.base + a.url, { credentials: "omit", headers: { "Authorization": "Bearer " + this.state.token } })
      .then(function (r) {
        if (r.status === 410) self.say(self.t.error_file_expired);  // a link older than a day: a reload signs anew
        if (!r.ok) throw new Error(String(r.status));
        return r.blob();
      })
      .then(function (b) {
        // A blob: URL has the shop's origin: only pictures and PDF keep their type (never HTML or SVG).
        then(URL.createObjectURL(SAFE_TYPES.indexOf(b.type) >= 0 ? b : new Blob([b], { type: "application/octet-stream" })));
      })
      .catch(function () { /* gone, or not theirs: the name stays */ });
  };
})();
