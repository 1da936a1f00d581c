"use strict";
(function () {
  const data = JSON.parse(document.getElementById("meshc-data").textContent);
  document.getElementById("app").textContent = data.tool;
})();
