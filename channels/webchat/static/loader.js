/* The web chat's loader: the one <script> a site embeds (README, "Web chat").
 * <script src="https://HUB/widget/loader.js" data-widget="ID" async></script>
 * Optional: data-lang="es"; for signed-in users data-user-id, data-user-email, data-user-hash.
 * It makes a <hub-webchat> element with a shadow root (the host page's styles stay out) and loads
 * the widget into it. No build step: plain script, served as is. */
(function () {
  "use strict";
  var me = document.currentScript;
  if (!me || !me.src) return;
  var base = me.src.replace(/\/widget\/loader\.js(\?.*)?$/, "");
  var data = me.dataset;
  var opts = {
    base: base,
    widget: data.widget || "",
    lang: data.lang || (navigator.language || "en"),
    identity: data.userId ? { identifier: data.userId, email: data.userEmail || "", hash: data.userHash || "" } : null
  };

  function start() {
    var host = document.createElement("hub-webchat");
    document.body.appendChild(host);
    var root = host.attachShadow({ mode: "open" });
    // The widget, then its parts (methods they add to it), run in this order; mounted after the last.
    ["widget.js", "widget-files.js", "widget-rating.js"].forEach(function (name, i, all) {
      var script = document.createElement("script");
      script.src = base + "/widget/" + name;
      script.async = false;
      if (i === all.length - 1) script.onload = function () { window.HubWebchat.mount(root, host, opts); };
      document.head.appendChild(script);
    });
  }

  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
})();
