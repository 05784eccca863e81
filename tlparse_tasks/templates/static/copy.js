/* Copy buttons: one before each element marked `data-tlp-copy` (a code page's <pre>, a guard
 * page's table). Progressive enhancement: without JavaScript there is no button and the text is
 * still there to select.
 *
 * What is copied is the exact text: a code block's text (its line numbers are CSS, not text), or
 * the code of each guard shown (the filter may hide some), one per line. The clipboard API may
 * be refused (a page opened from file://, a browser without permission): then a hidden textarea
 * and document.execCommand("copy") are tried, and failing that the text is selected for the
 * reader to copy, and the button says so.
 */
(function () {
  "use strict";

  var LABELS = { code: "Copy code", guards: "Copy guards" };
  var RESET_MS = 2500;

  function textOf(target) {
    if (target.dataset.tlpCopy !== "guards") return target.textContent;
    var codes = [];
    Array.prototype.forEach.call(target.querySelectorAll("tbody tr"), function (row) {
      if (row.hidden) return;
      var code = row.querySelector(".tlp-guard-code");
      if (code) codes.push(code.textContent);
    });
    return codes.join("\n");
  }

  /* document.execCommand("copy") from an off-screen textarea: true when the browser copied. */
  function copyBySelection(text) {
    var area = document.createElement("textarea");
    area.className = "tlp-copy-buffer";
    area.setAttribute("readonly", "");
    area.setAttribute("aria-hidden", "true");
    area.value = text;
    document.body.appendChild(area);
    area.select();
    var copied = false;
    try {
      copied = document.execCommand("copy");
    } catch (error) {
      copied = false;
    }
    document.body.removeChild(area);
    return copied;
  }

  function copy(text) {
    if (navigator.clipboard && typeof navigator.clipboard.writeText === "function") {
      return navigator.clipboard.writeText(text).then(
        function () {
          return true;
        },
        function () {
          return copyBySelection(text);
        }
      );
    }
    return Promise.resolve(copyBySelection(text));
  }

  /* Leave the text selected so that the reader's own Ctrl+C / Cmd+C copies it. */
  function select(target) {
    var selection = window.getSelection();
    if (!selection) return;
    var range = document.createRange();
    range.selectNodeContents(target);
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function addButton(target) {
    var kind = target.dataset.tlpCopy;
    var bar = document.createElement("div");
    bar.className = "tlp-copy-bar";
    var button = document.createElement("button");
    button.type = "button";
    button.className = "tlp-copy";
    button.textContent = LABELS[kind] || "Copy";
    var status = document.createElement("span");
    status.className = "tlp-copy-status";
    status.setAttribute("role", "status");
    bar.appendChild(button);
    bar.appendChild(status);
    target.parentNode.insertBefore(bar, target);
    var timer = null;

    button.addEventListener("click", function () {
      var text = textOf(target);
      copy(text).then(function (copied) {
        if (copied) {
          status.textContent = "Copied";
        } else {
          select(target);
          status.textContent = "Select and copy: the text is selected, press Ctrl+C (\u2318C)";
        }
        status.classList.toggle("tlp-copy-failed", !copied);
        if (timer) clearTimeout(timer);
        if (copied) {
          timer = setTimeout(function () {
            status.textContent = "";
          }, RESET_MS);
        }
      });
    });
  }

  function setup() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-tlp-copy]"), addButton);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setup);
  } else {
    setup();
  }
})();
