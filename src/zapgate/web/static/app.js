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

  function connectStream() {
    var url = document.body.getAttribute("data-live-url");
    if (!url || !window.EventSource) return;
    var source = new EventSource(url);
    var broken = false;
    source.addEventListener("change", function (msg) {
      var signal = JSON.parse(msg.data);
      signal.keys.forEach(function (k) { lastByKey[k] = Math.max(lastByKey[k] || 0, signal.id); });
      refreshKeys(signal.keys);
      document.dispatchEvent(new CustomEvent("zg:signal", { detail: signal }));
    });
    source.addEventListener("open", function () {
      document.body.setAttribute("data-live-state", "on");
      if (broken) {
        // Events may have been missed while disconnected: refresh every live part.
        broken = false;
        document.querySelectorAll("[data-live]").forEach(refresh);
      }
    });
    source.addEventListener("error", function () {
      broken = true;
      document.body.setAttribute("data-live-state", "off");
    });
  }

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
      if (d && d.showModal) { d.showModal(); var f = d.querySelector("input,select,textarea"); if (f) f.focus(); }
      return;
    }
    var closer = t.closest("[data-close-dialog]");
    if (closer) { var dlg = closer.closest("dialog"); if (dlg) dlg.close(); return; }
    var copy = t.closest("[data-copy]");
    if (copy) {
      var src = document.getElementById(copy.getAttribute("data-copy"));
      if (src && navigator.clipboard) navigator.clipboard.writeText(src.textContent.trim());
    }
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

  document.addEventListener("click", function (e) {
    var t = e.target;
    if (!(t instanceof Element)) return;
    var form = document.querySelector("[data-composer]");
    var reply = t.closest("[data-reply]");
    if (reply && form) {
      setReply(form, reply.getAttribute("data-reply"), reply.getAttribute("data-reply-label"));
      form.querySelector("textarea").focus();
    }
    if (t.closest("[data-reply-cancel]")) setReply(form, "", "");
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
      if (m && !m.open) m.showModal();
    }
  });

  // ---------------------------------------------------------------- toasts
  function toast(message, tone) {
    var box = document.getElementById("toasts");
    if (!box) return;
    var item = document.createElement("div");
    item.className = "toast tone-" + (tone || "ok");
    item.textContent = message;
    box.appendChild(item);
    setTimeout(function () { item.remove(); }, 5000);
  }

  document.addEventListener("zg-toast", function (e) {
    toast(e.detail.message, e.detail.tone);
  });
  document.addEventListener("zg-live", function (e) {
    refreshKeys(e.detail.value || []);
  });
  document.addEventListener("htmx:sendError", function () {
    var m = document.body.getAttribute("data-offline-text");
    if (m) toast(m, "bad");
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

  // A field refused by the server (aria-invalid, autofocus) takes the focus, so a
  // keyboard or screen-reader user lands on what to fix.
  function focusRefused(root) {
    var field = root.querySelector && root.querySelector("[aria-invalid='true'][autofocus], [data-testid='form-errors'][autofocus]");
    if (field && document.activeElement !== field) field.focus();
  }

  document.addEventListener("DOMContentLoaded", function () {
    focusRefused(document);
    localTimes(document);
    daySeparators();
    scrollChat(document.body);
    tick();
    setInterval(tick, 1000);
    connectStream();
  });
})();
