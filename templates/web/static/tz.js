// Progressive enhancement: preselect the browser's time zone when the form has none yet.
(function () {
  var select = document.getElementById("timezone");
  if (!select || select.getAttribute("data-default")) { return; }
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    for (var i = 0; i < select.options.length; i++) {
      if (select.options[i].value === zone) { select.selectedIndex = i; break; }
    }
  } catch (e) { /* keep UTC */ }
})();
