/* The theme a person chose (light, dark, or the system's), applied before the first
   paint so a dark page never flashes white. Loaded in <head> without defer; app.js
   runs the toggle. */
(function () {
  "use strict";
  try {
    var chosen = localStorage.getItem("zg-theme");
    if (chosen === "light" || chosen === "dark") document.documentElement.setAttribute("data-theme", chosen);
  } catch (e) { /* storage refused: follow the system */ }
})();
