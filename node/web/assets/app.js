// Murmur's interface: the live feed. When entries arrive, the page says
// so and offers to show them; it reloads by itself only when nothing is
// being typed. When the interface locks, the page goes to the lock.
"use strict";
(function () {
  var live = document.getElementById("live");
  if (!live || !window.EventSource) { return; }
  var typing = function () {
    var a = document.activeElement;
    return a && (a.tagName === "TEXTAREA" || a.tagName === "INPUT" || a.tagName === "SELECT");
  };
  var es = new EventSource("/events");
  es.addEventListener("changed", function () {
    if (!typing() && document.querySelector("form textarea") === null) {
      window.location.reload();
      return;
    }
    live.textContent = live.dataset.changed + " ";
    var b = document.createElement("button");
    b.type = "button";
    b.textContent = live.dataset.refresh;
    b.addEventListener("click", function () { window.location.reload(); });
    live.appendChild(b);
  });
  es.addEventListener("locked", function () {
    es.close();
    window.location.assign("/unlock");
  });
})();
