// The report's one script, served by the bot (CSP: script-src 'self'): "hear it again" buttons that play a recording
// from a moment. Without it the page is complete; the buttons stay hidden.
"use strict";
document.querySelectorAll("button.seek").forEach(function (button) {
  var player = document.getElementById(button.dataset.player);
  if (!player) return;
  button.hidden = false;
  button.setAttribute("aria-label", "Play your recording from " + button.textContent.replace("▶", "").trim());
  button.addEventListener("click", function () {
    var at = parseFloat(button.dataset.at) || 0;
    var play = function () {
      player.currentTime = Math.max(0, at - 0.5);
      player.play().catch(function () {});
    };
    if (player.readyState >= 1) play();
    else player.addEventListener("loadedmetadata", play, { once: true }), player.load();
  });
});
