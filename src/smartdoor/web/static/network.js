// The simulator page's network switch: posts {"online": bool} and shows what the door says.
(function () {
  "use strict";
  var button = document.querySelector("[data-network-toggle]");
  if (!button) return;
  // the demo refuses changes without the token it rendered into this page
  var PAGE_TOKEN = document.querySelector('meta[name="demo-page-token"]').getAttribute("content");
  function show(state) {
    button.setAttribute("data-network", state);
    button.setAttribute("aria-pressed", state === "offline" ? "true" : "false");
    button.textContent = state;
  }
  button.addEventListener("click", function () {
    var online = button.getAttribute("data-network") !== "online";
    fetch("/simulator/network", {method: "POST", headers: {"Content-Type": "application/json", "X-Demo-Token": PAGE_TOKEN},
                                 body: JSON.stringify({online: online})})
      .then(function (r) { return r.json(); })
      .then(function (r) { if (r.network) show(r.network); })
      .catch(function () {});
  });
})();
