/* The web chat widget's rating (loaded by loader.js after widget.js, before the widget is mounted):
 * methods of its Widget. No build step: plain script, served as is. */
(function () {
  "use strict";
  var Widget = window.HubWebchat.Widget, h = window.HubWebchat.h;

  // -- rating (CSAT): asked when a conversation is resolved; the hub takes one per resolution
  // (hub/conversations/ratings.py), and its conversation.rated event (live or replayed) says thanks.
  Widget.prototype.askRating = function (conversationId) {
    var self = this, t = this.t, chosen = 0, stars = [], i;
    this.dropRating();
    var row = h("div", { "class": "stars", role: "radiogroup", "aria-label": t.rate_question });
    var comment = h("textarea", { rows: "2", maxlength: "1000", placeholder: t.rate_comment, "aria-label": t.rate_comment });
    var err = h("p", { "class": "err", role: "alert" });
    function pick(n) {
      chosen = n;
      err.textContent = "";
      stars.forEach(function (b, j) { b.setAttribute("aria-checked", String(j + 1 === n)); b.classList.toggle("on", j < n); });
    }
    for (i = 1; i <= 5; i++) {
      stars.push(row.appendChild(h("button", { type: "button", role: "radio", "aria-checked": "false", text: "\u2605",
        "aria-label": t.rate_score.replace("{score}", i), onclick: pick.bind(null, i) })));
    }
    this.rating = h("form", { "class": "rating", onsubmit: function (e) {
      e.preventDefault();
      if (!chosen) { err.textContent = t.rate_pick; return; }
      self.send({ type: "rate", conversation_id: conversationId, score: chosen, comment: comment.value.trim() || null });
    } }, h("p", { text: t.rate_question }), row, comment, err, h("button", { type: "submit", text: t.rate_send }));
    this.rating.err = err;
    this.log.appendChild(this.rating);
    this.log.scrollTop = this.log.scrollHeight;
  };

  Widget.prototype.dropRating = function () {
    if (this.rating) this.rating.remove();
    this.rating = null;
  };
})();
