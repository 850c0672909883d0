/* modelbay web UI: confirmations, toggles, copy buttons, compare selection. No inline script
   runs on these pages (Content-Security-Policy), so all behaviour is wired up here. */
(function () {
  "use strict";

  document.addEventListener("submit", function (ev) {
    var message = ev.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) ev.preventDefault();
  });

  document.addEventListener("click", function (ev) {
    var toggle = ev.target.closest("[data-toggle]");
    if (toggle) {
      ev.preventDefault();
      document.querySelectorAll(toggle.getAttribute("data-toggle")).forEach(function (el) {
        el.hidden = !el.hidden;
        var focus = el.querySelector("textarea, input[type=text]");
        if (!el.hidden && focus) focus.focus();
      });
    }
    var copy = ev.target.closest("[data-copy]");
    if (copy) {
      ev.preventDefault();
      var source = document.getElementById(copy.getAttribute("data-copy"));
      var done = function () {
        copy.textContent = "Copied";
        setTimeout(function () { copy.textContent = "Copy"; }, 1500);
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(source.textContent).then(done);
      } else {
        var range = document.createRange();
        range.selectNodeContents(source);
        var selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        document.execCommand("copy");
        done();
      }
    }
  });

  // Checkboxes in a table pick what to compare; they belong to a form elsewhere on the page
  // (form="..."), since the rows hold forms of their own.
  function updateCompare() {
    document.querySelectorAll("form[data-compare]").forEach(function (form) {
      var picked = document.querySelectorAll('input[form="' + form.id + '"]:checked').length;
      form.querySelectorAll("button").forEach(function (button) {
        button.disabled = picked < 2;
        if (!button.hasAttribute("data-fixed-label")) {
          button.textContent = "Compare" + (picked ? " " + picked + " selected" : "");
        }
      });
    });
  }
  document.addEventListener("change", function (ev) {
    if (ev.target.matches("input[type=checkbox][form]")) updateCompare();
    if (ev.target.matches("select[data-navigate]")) window.location = ev.target.value;
  });
  updateCompare();
})();
