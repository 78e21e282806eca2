// Murmur's interface, in the browser: live updates and the idle lock.
//
// Live: when the node holds new entries (the /events feed), the page
// fetches itself again and puts the new content in place, keeping the
// focus where it was; if something is being typed, it offers the news
// instead, so that nothing typed is lost.
//
// Idle: using the page (keys, pointer) tells the node, at most every 30
// seconds, so that someone typing a long answer is not locked out; two
// minutes before the lock, a warning says so; at the lock, the page goes
// to the passphrase, leaving nothing on the screen for the next person.
"use strict";
(function () {
  var body = document.body;
  var idle = Number(body.dataset.idle || 0) * 1000;
  if (!idle) { return; } // (locked pages)
  var notice = document.getElementById("notice");
  var warning = document.getElementById("idle-warning");

  var base = body.dataset.base || ""; // the session's own path
  var toLock = function () { window.location.assign("/unlock"); };
  var pinged = Date.now();
  var ping = function () {
    pinged = Date.now();
    warning.hidden = true;
    fetch(base + "/alive", { credentials: "same-origin", cache: "no-store" }).then(function (r) {
      if (r.status === 401) { toLock(); }
    }, function () {});
  };
  ["keydown", "pointerdown", "input", "wheel", "touchstart"].forEach(function (type) {
    document.addEventListener(type, function () {
      if (Date.now() - pinged > 30000) { ping(); }
    }, { passive: true, capture: true });
  });
  // asking: before locking (or warning), ask the node how long is left:
  // another tab may have been in use meanwhile.
  var asking = false;
  var ask = function () {
    if (asking) { return; }
    asking = true;
    fetch(base + "/alive", { credentials: "same-origin", cache: "no-store", headers: { "X-Murmur-Live": "1" } }).then(function (r) {
      asking = false;
      var left = Number(r.headers.get("X-Murmur-Idle-Left") || 0) * 1000;
      if (r.status === 401 || left <= 0) { toLock(); return; }
      pinged = Date.now() - (idle - left);
      warning.hidden = left > 120000;
    }, function () { asking = false; });
  };
  window.setInterval(function () {
    if (Date.now() - pinged >= idle - 120000) { ask(); }
  }, 5000);

  // typed: something in the page's forms differs from what the page came
  // with, or a field has the focus.
  var typed = function () {
    var a = document.activeElement;
    if (a && a.closest("main") && /^(TEXTAREA|INPUT|SELECT)$/.test(a.tagName)) { return true; }
    var fields = document.querySelectorAll("main input, main textarea, main select");
    for (var i = 0; i < fields.length; i++) {
      var f = fields[i];
      if (f.type === "hidden" || f.type === "file" && f.files.length === 0) { continue; }
      if (f.type === "file") { return true; }
      if (f.type === "checkbox" || f.type === "radio") {
        if (f.checked !== f.defaultChecked) { return true; }
      } else if (f.tagName === "SELECT" && !f.multiple) {
        // (with no option marked, the first is the one shown at first)
        var first = 0;
        for (var k = 0; k < f.options.length; k++) {
          if (f.options[k].defaultSelected) { first = k; break; }
        }
        if (f.options.length && f.selectedIndex !== first) { return true; }
      } else if (f.tagName === "SELECT") {
        for (var j = 0; j < f.options.length; j++) {
          if (f.options[j].selected !== f.options[j].defaultSelected) { return true; }
        }
      } else if (f.value !== f.defaultValue) {
        return true;
      }
    }
    return false;
  };

  // refresh puts the page's new content in place, keeping the focus.
  var refresh = function () {
    // (X-Murmur-Live: this fetch is not someone using the page, and does
    // not keep the interface unlocked)
    fetch(window.location.href, { credentials: "same-origin", cache: "no-store", headers: { "X-Murmur-Live": "1" } }).then(function (r) {
      if (r.redirected && new URL(r.url).pathname === "/unlock") { toLock(); return null; }
      return r.ok ? r.text() : null;
    }).then(function (html) {
      if (html === null) { return; }
      var doc = new DOMParser().parseFromString(html, "text/html");
      var main = document.querySelector("main"), next = doc.querySelector("main");
      if (!next || next.innerHTML === main.innerHTML) { notice.textContent = ""; return; }
      var a = document.activeElement, key = null;
      if (a && a !== body && main.contains(a)) {
        key = a.id ? "#" + CSS.escape(a.id) : a.getAttribute("href") ? 'a[href="' + CSS.escape(a.getAttribute("href")) + '"]' : null;
      }
      main.innerHTML = next.innerHTML;
      var banner = document.querySelector(".banner"), nextBanner = doc.querySelector(".banner");
      if (banner && !nextBanner) { banner.remove(); }
      if (nextBanner && !banner) { document.querySelector("header").after(nextBanner); }
      document.title = doc.title;
      var back = key && main.querySelector(key);
      if (back) { back.focus({ preventScroll: true }); }
      notice.textContent = notice.dataset.updated;
    }, function () {});
  };

  if (!window.EventSource) { return; }
  var es = new EventSource(base + "/events");
  es.addEventListener("changed", function () {
    if (body.dataset.static) { notice.textContent = notice.dataset.changed; return; } // (a form's answer: kept)
    if (!typed()) { refresh(); return; }
    notice.textContent = notice.dataset.changed + " ";
    var b = document.createElement("button");
    b.type = "button";
    b.textContent = notice.dataset.refresh;
    b.addEventListener("click", refresh);
    notice.appendChild(b);
  });
  es.addEventListener("locked", function () {
    es.close();
    toLock();
  });
})();
