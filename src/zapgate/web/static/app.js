/* zapgate panel: live updates, CSRF header, modal, toasts, countdowns, local times.
   Plain script, no build step. */
(function () {
  "use strict";

  var csrf = document.querySelector('meta[name="csrf-token"]');
  var lastByKey = {};

  // Every htmx request carries the session's CSRF token.
  document.addEventListener("htmx:configRequest", function (e) {
    if (csrf) e.detail.headers["X-CSRF-Token"] = csrf.content;
  });

  // ---------------------------------------------------------------- live parts
  function refresh(el) {
    if (!window.htmx || !document.body.contains(el)) return;
    // A form inside this part is being sent: its answer replaces the part, and the
    // catch-up after that swap refreshes it again only if it is still behind.
    if (el.querySelector(".htmx-request")) return;
    window.htmx.trigger(el, "zg-refresh");
  }

  function refreshKeys(keys) {
    keys.forEach(function (key) {
      document.querySelectorAll("[data-live]").forEach(function (el) {
        if (el.getAttribute("data-live").split(" ").indexOf(key) >= 0) refresh(el);
      });
    });
  }

  // A part rendered before an event it missed (it arrived while the part was loading)
  // refreshes itself at once.
  function catchUp(root) {
    var parts = root.querySelectorAll ? root.querySelectorAll("[data-live][data-seen]") : [];
    var all = Array.prototype.slice.call(parts);
    if (root.hasAttribute && root.hasAttribute("data-live")) all.push(root);
    all.forEach(function (el) {
      var seen = parseInt(el.getAttribute("data-seen") || "0", 10);
      var stale = el.getAttribute("data-live").split(" ").some(function (k) {
        return (lastByKey[k] || 0) > seen;
      });
      if (stale) refresh(el);
    });
  }

  var liveSource = null;

  function connectStream() {
    var url = document.body.getAttribute("data-live-url");
    if (!url || !window.EventSource) return;
    var source = new EventSource(url);
    liveSource = source;
    var broken = false;
    source.addEventListener("change", function (msg) {
      var signal = JSON.parse(msg.data);
      signal.keys.forEach(function (k) { lastByKey[k] = Math.max(lastByKey[k] || 0, signal.id); });
      refreshKeys(signal.keys);
      document.dispatchEvent(new CustomEvent("zg:signal", { detail: signal }));
    });
    source.addEventListener("open", function () {
      document.body.setAttribute("data-live-state", "on");
      serverUp(true);
      if (broken) {
        // Events may have been missed while disconnected: refresh every live part.
        broken = false;
        document.querySelectorAll("[data-live]").forEach(refresh);
      }
    });
    source.addEventListener("error", function () {
      broken = true;
      document.body.setAttribute("data-live-state", "off");
      // A stream that ends and comes straight back (a lagging browser, a restart of the
      // stream) is no outage; one that stays down for a few seconds is.
      if (!downTimer) downTimer = setTimeout(serverDown, 3000);
    });
  }

  // ---------------------------------------------------------------- focus
  // A dialog focuses its first field (not its ✕) and gives the focus back, on close,
  // to what opened it; a part swapped by htmx keeps the focus that was inside it.
  var openers = {};
  var FIELDS = "[autofocus], input:not([type=hidden]):not([disabled]), select, textarea";
  var FOCUSABLE = "a[href], button:not([disabled]), input:not([type=hidden]), select, textarea, [tabindex]:not([tabindex='-1'])";

  function visible(el) { return el.getClientRects().length > 0; }

  function focusFirst(root) {
    var pick = function (sel) {
      return Array.prototype.filter.call(root.querySelectorAll(sel), visible)[0];
    };
    var f = pick(FIELDS) || pick(".dialog-body > :not(.dialog-head) " + FOCUSABLE.split(", ").join(", .dialog-body > :not(.dialog-head) ")) || pick(FOCUSABLE);
    if (f) f.focus();
  }

  function connected(el) { return el && document.body.contains(el); }

  // What to focus when `el` was replaced: the same control in the new markup.
  function signature(el) {
    if (!el || !el.getAttribute) return null;
    var part = el.closest("[id]");
    return {
      part: part ? part.id : null,
      id: el.id || null,
      attr: ["hx-post", "hx-get", "name", "href", "data-chat"].map(function (a) {
        return el.getAttribute(a) ? "[" + a + "=\"" + el.getAttribute(a).replace(/"/g, "\\\"") + "\"]" : "";
      }).join("")
    };
  }

  function refind(sig) {
    if (!sig) return null;
    if (sig.id && document.getElementById(sig.id)) return document.getElementById(sig.id);
    var part = sig.part ? document.getElementById(sig.part) : null;
    if (!part) return null;
    return (sig.attr && part.querySelector(sig.attr)) || part.querySelector(FOCUSABLE);
  }

  function giveBack(dialogId) {
    var opener = openers[dialogId];
    delete openers[dialogId];
    // Another dialog took over (the QR modal after the new-connection form).
    if (!opener || document.querySelector("dialog[open]")) return;
    var target = connected(opener.el) ? opener.el : refind(opener.sig);
    if (target) target.focus(); else focusMain();
  }

  function focusMain() {
    var main = document.getElementById("main");
    if (main) main.focus({ preventScroll: true });
  }

  function remember(dialogId, el) {
    // An element inside another dialog (the new-connection form) hands over that
    // dialog's own opener: closing the QR modal returns to "+ New connection".
    var inside = el && el.closest ? el.closest("dialog") : null;
    if (inside && inside.id !== dialogId && openers[inside.id]) {
      openers[dialogId] = openers[inside.id];
      return;
    }
    openers[dialogId] = { el: el, sig: signature(el) };
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("dialog").forEach(function (d) {
      d.addEventListener("close", function () { setTimeout(function () { giveBack(d.id); }, 0); });
    });
  });

  // Kept until the focus lands somewhere: a live refresh of the same part can swap it
  // again before the first swap settled.
  var swapFocus = null;
  document.addEventListener("htmx:beforeSwap", function (e) {
    var target = e.detail.target;
    var active = document.activeElement;
    if (target && active && active !== document.body && target.contains(active)) {
      swapFocus = signature(active);
    }
  });
  document.addEventListener("htmx:afterSettle", function () {
    if (!swapFocus) return;
    if (document.activeElement && document.activeElement !== document.body) {
      swapFocus = null;
      return;
    }
    var again = refind(swapFocus);
    if (again) { swapFocus = null; again.focus({ preventScroll: true }); }
  });

  // ---------------------------------------------------------------- server status
  // While the server is unreachable: a banner, faded cards (what they say may be
  // stale), one toast at most; all cleared the moment it answers again.
  var downTimer = null;

  function serverDown() {
    downTimer = null;
    var banner = document.getElementById("offline-banner");
    if (banner) banner.hidden = false;
    document.body.setAttribute("data-server", "down");
  }

  // `streamOpen`: the live stream itself is back. Any other answer clears what is shown
  // but keeps a pending outage check while the browser is still trying to reopen the
  // stream: a request the server finished while shutting down proves nothing about the
  // next few seconds. A stream the browser gave up on (refused) will not decide it.
  function serverUp(streamOpen) {
    var reopening = liveSource !== null && liveSource.readyState === EventSource.CONNECTING;
    if (downTimer && (streamOpen || !reopening)) { clearTimeout(downTimer); downTimer = null; }
    var wasDown = document.body.getAttribute("data-server") === "down";
    var banner = document.getElementById("offline-banner");
    if (banner) banner.hidden = true;
    document.body.removeAttribute("data-server");
    document.querySelectorAll(".toast[data-offline]").forEach(function (el) { el.remove(); });
    if (wasDown) toast(document.body.getAttribute("data-online-text"), "ok");
  }

  // ---------------------------------------------------------------- theme
  var THEMES = ["system", "light", "dark"];
  var ICONS = { system: "◐", light: "☀", dark: "☾" };

  function currentTheme() {
    return document.documentElement.getAttribute("data-theme") || "system";
  }

  function showTheme() {
    var button = document.getElementById("theme-toggle");
    if (!button) return;
    var theme = currentTheme();
    var label = button.getAttribute("data-label-" + theme);
    button.setAttribute("aria-label", label);
    button.setAttribute("title", label);
    button.setAttribute("data-theme-now", theme);
    var icon = button.querySelector("[data-theme-icon]");
    if (icon) icon.textContent = ICONS[theme];
  }

  document.addEventListener("click", function (e) {
    var t = e.target;
    if (!(t instanceof Element) || !t.closest("#theme-toggle")) return;
    var next = THEMES[(THEMES.indexOf(currentTheme()) + 1) % THEMES.length];
    if (next === "system") document.documentElement.removeAttribute("data-theme");
    else document.documentElement.setAttribute("data-theme", next);
    try {
      if (next === "system") localStorage.removeItem("zg-theme");
      else localStorage.setItem("zg-theme", next);
    } catch (err) { /* not remembered, still applied */ }
    showTheme();
  });

  // ---------------------------------------------------------------- modal
  function modal() { return document.getElementById("modal"); }

  function closeModal() {
    var m = modal();
    if (m && m.open) m.close();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var m = modal();
    // A closed modal stops following its connection.
    if (m) m.addEventListener("close", function () { document.getElementById("modal-body").innerHTML = ""; });
  });

  document.addEventListener("click", function (e) {
    var t = e.target;
    if (!(t instanceof Element)) return;
    if (t.closest("[data-close-modal]")) { closeModal(); return; }
    var opener = t.closest("[data-open-dialog]");
    if (opener) {
      var d = document.getElementById(opener.getAttribute("data-open-dialog"));
      if (d && d.showModal) { remember(d.id, opener); d.showModal(); focusFirst(d); }
      return;
    }
    var closer = t.closest("[data-close-dialog]");
    if (closer) { var dlg = closer.closest("dialog"); if (dlg) dlg.close(); return; }
    var copy = t.closest("[data-copy]");
    if (copy) {
      var src = document.getElementById(copy.getAttribute("data-copy"));
      if (src && navigator.clipboard) {
        // A button with data-copied says so once the text is on the clipboard.
        var done = copy.getAttribute("data-copied");
        navigator.clipboard.writeText(src.textContent.trim()).then(function () {
          if (done) toast(done, "ok");
        }, function () { /* refused: the text stays selectable on the page */ });
      }
    }
  });

  // Any answer from the server proves it is back.
  document.addEventListener("htmx:afterRequest", function (e) {
    if (e.detail.xhr && e.detail.xhr.status > 0) serverUp();
  });

  // After any request, the live part around it catches up on what it skipped meanwhile.
  document.addEventListener("htmx:afterRequest", function (e) {
    var elt = e.detail.elt;
    var part = elt && elt.closest && document.body.contains(elt) ? elt.closest("[data-live]") : null;
    if (part && part !== elt) setTimeout(function () { catchUp(part); }, 0);
  });

  // A form inside a dialog closes it once its request succeeded.
  document.addEventListener("htmx:afterRequest", function (e) {
    var elt = e.detail.elt;
    var dlg = elt && elt.closest ? elt.closest("dialog") : null;
    if (!e.detail.successful || !dlg || dlg.id === "modal" || elt.tagName !== "FORM") return;
    dlg.close();
    elt.reset();
  });

  // Forms marked data-reset (the composer) clear themselves after a successful send.
  document.addEventListener("htmx:afterRequest", function (e) {
    var elt = e.detail.elt;
    if (!e.detail.successful || !elt || !elt.hasAttribute || !elt.hasAttribute("data-reset")) return;
    elt.reset();
    setReply(elt, "", "");
    setEdit(elt, "", null);
    var name = elt.querySelector("[data-file-name]");
    if (name) name.textContent = "";
    var box = elt.querySelector("textarea");
    if (box) box.focus();
  });

  // ---------------------------------------------------------------- composer
  function setReply(form, id, label) {
    if (!form) return;
    var field = form.querySelector("[data-reply-field]");
    var preview = form.querySelector("[data-reply-preview]");
    if (field) field.value = id;
    if (preview) {
      preview.hidden = !id;
      preview.querySelector("[data-reply-text]").textContent = label;
    }
  }

  // Editing a message of ours: the composer takes its text and sends the new one as an
  // edit (the conversation below re-renders on live events, the composer never does).
  function setEdit(form, id, text) {
    if (!form) return;
    var field = form.querySelector("[data-edit-field]");
    var preview = form.querySelector("[data-edit-preview]");
    if (!field || !preview) return;
    var was = field.value;
    field.value = id;
    preview.hidden = !id;
    var box = form.querySelector("textarea");
    if (box && text !== null) box.value = text;
    else if (box && was && !id) box.value = "";
  }

  document.addEventListener("click", function (e) {
    var t = e.target;
    if (!(t instanceof Element)) return;
    var form = document.querySelector("[data-composer]");
    var reply = t.closest("[data-reply]");
    if (reply && form) {
      setEdit(form, "", null);
      setReply(form, reply.getAttribute("data-reply"), reply.getAttribute("data-reply-label"));
      form.querySelector("textarea").focus();
    }
    if (t.closest("[data-reply-cancel]")) setReply(form, "", "");
    var edit = t.closest("[data-edit]");
    if (edit && form) {
      setReply(form, "", "");
      setEdit(form, edit.getAttribute("data-edit"), edit.getAttribute("data-edit-text"));
      form.querySelector("textarea").focus();
    }
    if (t.closest("[data-edit-cancel]")) setEdit(form, "", null);
  });

  // Enter sends, Shift+Enter starts a new line.
  document.addEventListener("keydown", function (e) {
    var t = e.target;
    if (e.key !== "Enter" || e.shiftKey || e.isComposing || !(t instanceof HTMLTextAreaElement)) return;
    var form = t.closest("[data-composer]");
    if (!form) return;
    e.preventDefault();
    form.requestSubmit();
  });

  // A filter that changes what a whole page shows (the inbox's number) reloads it.
  document.addEventListener("change", function (e) {
    var t = e.target;
    if (t instanceof HTMLSelectElement && t.hasAttribute("data-submit-on-change") && t.form) t.form.submit();
  });

  document.addEventListener("change", function (e) {
    var t = e.target;
    if (!(t instanceof HTMLInputElement) || t.type !== "file") return;
    var form = t.closest("[data-composer]");
    var name = form && form.querySelector("[data-file-name]");
    if (name) name.textContent = t.files.length ? t.files[0].name : "";
  });

  document.addEventListener("htmx:afterSwap", function (e) {
    var target = e.detail.target;
    if (target && target.id === "modal-body") {
      var m = modal();
      // An answer that swapped nothing (HX-Reswap: none, e.g. a connection created
      // without "connect now") opens no empty modal.
      if (m && !m.open && target.children.length) {
        remember("modal", e.detail.requestConfig ? e.detail.requestConfig.elt : document.activeElement);
        m.showModal();
        focusFirst(target);
      }
    }
  });

  // ---------------------------------------------------------------- toasts
  function toast(message, tone, offline) {
    var box = document.getElementById("toasts");
    if (!box || !message) return;
    var item = document.createElement("div");
    item.className = "toast tone-" + (tone || "ok");
    item.textContent = message;
    // The outage's toast stays until the server answers again (serverUp removes it).
    if (offline) item.setAttribute("data-offline", "");
    else setTimeout(function () { item.remove(); }, 5000);
    box.appendChild(item);
  }

  document.addEventListener("zg-toast", function (e) {
    toast(e.detail.message, e.detail.tone);
  });
  document.addEventListener("zg-live", function (e) {
    refreshKeys(e.detail.value || []);
  });
  document.addEventListener("htmx:sendError", function () {
    // A request that cannot reach the server: say so once, and show the outage at once.
    serverDown();
    var m = document.body.getAttribute("data-offline-text");
    if (m && !document.querySelector(".toast[data-offline]")) toast(m, "bad", true);
  });

  // ---------------------------------------------------------------- time
  var lang = document.documentElement.lang || "en";

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-countdown]").forEach(function (el) {
      var left = Math.max(0, Math.round((Date.parse(el.getAttribute("data-countdown")) - now) / 1000));
      el.textContent = Math.floor(left / 60) + ":" + pad(left % 60);
      var bar = el.closest("[data-countdown-box]");
      if (bar) bar.classList.toggle("expiring", left <= 10);
    });
  }

  function localTimes(root) {
    var fmt = new Intl.DateTimeFormat(lang, { dateStyle: "short", timeStyle: "short" });
    var timeOnly = new Intl.DateTimeFormat(lang, { timeStyle: "short" });
    var withSeconds = new Intl.DateTimeFormat(lang, { timeStyle: "medium" });
    var fullSeconds = new Intl.DateTimeFormat(lang, { dateStyle: "short", timeStyle: "medium" });
    (root.querySelectorAll ? root.querySelectorAll("time[datetime]") : []).forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (isNaN(d)) return;
      if (el.hasAttribute("data-time-seconds")) el.textContent = withSeconds.format(d);
      else if (el.hasAttribute("data-seconds")) el.textContent = fullSeconds.format(d);
      else el.textContent = el.hasAttribute("data-time-only") ? timeOnly.format(d) : fmt.format(d);
    });
  }

  // Date separators in the conversation, by the reader's local day: "Hoje", "Ontem",
  // then the date. Recomputed after every swap (live refresh, older messages).
  function capital(text) { return text.charAt(0).toUpperCase() + text.slice(1); }

  function dayLabel(d) {
    var today = new Date(); today.setHours(0, 0, 0, 0);
    var day = new Date(d); day.setHours(0, 0, 0, 0);
    var diff = Math.round((day - today) / 86400000);
    if (diff === 0 || diff === -1) {
      return capital(new Intl.RelativeTimeFormat(lang, { numeric: "auto" }).format(diff, "day"));
    }
    return new Intl.DateTimeFormat(lang, { dateStyle: "long" }).format(d);
  }

  function daySeparators() {
    var log = document.querySelector("[data-scroll-end]");
    if (!log) return;
    log.querySelectorAll(".day-sep").forEach(function (el) { el.remove(); });
    var last = "";
    log.querySelectorAll(".bubble").forEach(function (bubble) {
      var time = bubble.querySelector(".meta time[datetime]");
      var d = time ? new Date(time.getAttribute("datetime")) : null;
      if (!d || isNaN(d)) return;
      var key = d.getFullYear() + "-" + d.getMonth() + "-" + d.getDate();
      if (key === last) return;
      last = key;
      var sep = document.createElement("div");
      sep.className = "day-sep";
      sep.setAttribute("role", "separator");
      sep.setAttribute("data-testid", "day-separator");
      sep.textContent = dayLabel(d);
      bubble.parentNode.insertBefore(sep, bubble);
    });
  }
  document.addEventListener("zg:days", daySeparators);

  function autoClose(root) {
    var done = root.querySelector && root.querySelector("[data-autoclose]");
    if (done) setTimeout(closeModal, 1500);
  }

  // The conversation opens at its end. A live refresh follows the end only when the
  // reader was there; older messages loaded above keep what the reader was looking at.
  var chatScroll = null;

  document.addEventListener("htmx:beforeSwap", function (e) {
    var log = document.querySelector("[data-scroll-end]");
    var target = e.detail.target;
    if (!log || !target || !(log === target || log.contains(target))) return;
    chatScroll = {
      fromBottom: log.scrollHeight - log.scrollTop,
      top: log.scrollTop,
      atEnd: log.scrollHeight - log.scrollTop - log.clientHeight < 48
    };
  });

  function scrollChat(root) {
    var log = document.querySelector("[data-scroll-end]");
    if (!log) return;
    var saved = chatScroll;
    if (root.hasAttribute && root.hasAttribute("data-older-batch") && log.contains(root)) {
      chatScroll = null;
      if (saved) log.scrollTop = log.scrollHeight - saved.fromBottom;
      var first = root.querySelector("[data-older]");
      if (first) first.focus({ preventScroll: true });
      return;
    }
    if (root === log) {
      chatScroll = null;
      log.scrollTop = saved && !saved.atEnd ? saved.top : log.scrollHeight;
      return;
    }
    if (root === document.body || root.contains(log)) log.scrollTop = log.scrollHeight;
  }

  // ---------------------------------------------------------------- custom fields
  document.addEventListener("click", function (e) {
    var t = e.target;
    if (!(t instanceof Element)) return;
    var add = t.closest("[data-kv-add]");
    if (add) {
      var box = add.parentNode;
      var blank = box.querySelector("template[data-kv-blank]");
      var rows = box.querySelector("[data-kv-rows]");
      if (!blank || !rows) return;
      rows.appendChild(blank.content.cloneNode(true));
      var inputs = rows.querySelectorAll("[data-kv-row] input");
      if (inputs.length) inputs[inputs.length - 2].focus();
      return;
    }
    var remove = t.closest("[data-kv-remove]");
    if (remove) {
      var row = remove.closest("[data-kv-row]");
      var set = row && row.closest("fieldset");
      if (row) row.remove();
      var next = set && set.querySelector("[data-kv-add]");
      if (next) next.focus();
    }
  });

  document.addEventListener("htmx:load", function (e) {
    var el = e.detail.elt;
    localTimes(el.parentNode || el);
    autoClose(el);
    catchUp(el);
    daySeparators();
    scrollChat(el);
    tick();
  });

  // A contact picture that is not there (none, hidden, no connection to ask) is hidden
  // rather than shown broken.
  document.addEventListener(
    "error",
    function (e) {
      var el = e.target;
      if (el && el.matches && el.matches("img[data-hide-broken]")) el.hidden = true;
    },
    true
  );

  // A field refused by the server (aria-invalid, autofocus) takes the focus, so a
  // keyboard or screen-reader user lands on what to fix.
  function focusRefused(root) {
    var field = root.querySelector && root.querySelector("[aria-invalid='true'][autofocus], [data-testid='form-errors'][autofocus]");
    if (field && document.activeElement !== field) field.focus();
  }

  // Parts a phone folds away at first (totals, the contact form): still one tap away.
  function collapseForSmallScreens() {
    document.querySelectorAll("details[data-collapse-below]").forEach(function (d) {
      var px = parseInt(d.getAttribute("data-collapse-below"), 10);
      if (window.matchMedia("(max-width: " + px + "px)").matches) d.open = false;
    });
  }

  // The header's tools (theme, language, sign out) behind one button on a phone.
  document.addEventListener("click", function (e) {
    var t = e.target;
    if (!(t instanceof Element)) return;
    var toggle = t.closest(".tools-toggle");
    if (!toggle) return;
    var open = toggle.getAttribute("aria-expanded") !== "true";
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
    var bar = toggle.closest(".topbar");
    if (bar) bar.classList.toggle("tools-open", open);
  });

  document.addEventListener("DOMContentLoaded", function () {
    collapseForSmallScreens();
    showTheme();
    focusRefused(document);
    // A chat opened: the person came to answer it.
    var composer = document.getElementById("composer-text");
    if (composer && !document.querySelector("[aria-invalid='true']")) composer.focus({ preventScroll: true });
    localTimes(document);
    daySeparators();
    scrollChat(document.body);
    tick();
    setInterval(tick, 1000);
    connectStream();
  });
})();
