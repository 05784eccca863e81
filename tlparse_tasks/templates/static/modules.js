/* tlparse-tasks client loader.
 *
 * Lazy report data ships as classic scripts (data/<module>/<shard>.js) that call
 * TLP.register(module, shard, data): browsers refuse fetch() of file:// URLs, but a
 * <script src> inserted at runtime loads from disk and from any static server alike.
 * Everything from a log is inserted as text (textContent), never as markup.
 */
(function () {
  "use strict";

  var TLP = (window.TLP = window.TLP || {});
  var loaded = {}; // key -> Promise of data (the cache)
  var waiting = {}; // key -> {resolve, reject} while its script loads
  var renderers = (TLP.renderers = TLP.renderers || {});

  function key(module, shard) {
    return module + "/" + shard;
  }

  /* Called by every shard script. */
  TLP.register = function (module, shard, data) {
    var k = key(module, shard);
    if (waiting[k]) {
      waiting[k].resolve(data);
      delete waiting[k];
    } else {
      loaded[k] = Promise.resolve(data);
    }
  };

  /* Load a shard once; later calls share the same promise. */
  TLP.load = function (module, shard, src) {
    var k = key(module, shard);
    if (loaded[k]) return loaded[k];
    var promise = new Promise(function (resolve, reject) {
      waiting[k] = { resolve: resolve, reject: reject };
      var script = document.createElement("script");
      script.src = src;
      script.async = true;
      script.onerror = function () {
        delete waiting[k];
        delete loaded[k]; // allow a retry
        reject(new Error("could not load " + src));
      };
      script.onload = function () {
        if (waiting[k]) {
          delete waiting[k];
          delete loaded[k];
          reject(new Error(src + " did not register its data"));
        }
      };
      document.head.appendChild(script);
    });
    loaded[k] = promise;
    return promise;
  };

  /* A URL is followed only if it cannot run script: relative, http or https. */
  TLP.safeHref = function (url) {
    if (typeof url !== "string" || /[\u0000-\u001f\u007f]/.test(url)) return null;
    var scheme = /^\s*([A-Za-z][A-Za-z0-9+.-]*):/.exec(url);
    if (!scheme) return url;
    var name = scheme[1].toLowerCase();
    return name === "http" || name === "https" ? url : null;
  };

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  TLP.el = el;

  /* A link that cannot run script: no URL gives plain text, an unsafe one struck-through text
   * (artifact_list.html's `link` macro is the twin). */
  TLP.link = function (url, text, external) {
    if (url === undefined || url === null || url === "") return document.createTextNode(String(text));
    var href = TLP.safeHref(url);
    if (href === null) {
      var span = el("span", "tlp-unsafe-link", text);
      span.title = String(url);
      return span;
    }
    var a = el("a", null, text);
    a.setAttribute("href", href);
    if (external) a.rel = "noopener noreferrer";
    return a;
  };

  /* One file-list item (module_api.listed_file), as artifact_list.html's `artifact_item`. */
  TLP.fileItem = function (item) {
    var li = el("li");
    li.appendChild(TLP.link(item.url, item.name, item.external));
    if (item.readable_url) {
      li.appendChild(document.createTextNode(" ("));
      li.appendChild(TLP.link(item.readable_url, "readable_html"));
      li.appendChild(document.createTextNode(")"));
    }
    if (item.suffix) {
      li.appendChild(document.createTextNode(" "));
      li.appendChild(el("span", "tlp-suffix", item.suffix));
    }
    if (item.number !== undefined && item.number !== null) {
      li.appendChild(document.createTextNode(" "));
      li.appendChild(el("span", "tlp-number", "(" + item.number + ")"));
    }
    return li;
  };

  /* A file list: into the target's own <ul class="tlp-artifacts"> (the compile directory), or
   * as a new one (a lazy block), as artifact_list.html's `artifact_list`. */
  renderers.artifacts = function (items, target) {
    var list = target;
    if (!(target.tagName === "UL" && target.classList.contains("tlp-artifacts"))) {
      target.textContent = "";
      list = el("ul", "tlp-artifacts");
      target.appendChild(list);
    }
    list.textContent = "";
    items.forEach(function (item) {
      list.appendChild(TLP.fileItem(item));
    });
  };

  /* One logged value (a string), shown as it would be inline. */
  renderers.text = function (data, target) {
    target.textContent = "";
    target.appendChild(el("code", "cm-value", typeof data === "string" ? data : JSON.stringify(data)));
  };

  /* Generic fallback: show the data as formatted JSON text. */
  renderers.json = function (data, target) {
    target.textContent = "";
    target.appendChild(el("pre", "tlp-json", JSON.stringify(data, null, 2)));
  };

  function bodyOf(container) {
    return container.querySelector(".tlp-artifacts, .tlp-body") || container;
  }

  function setState(container, state, message) {
    container.classList.remove("tlp-loading", "tlp-loaded", "tlp-error");
    container.classList.add("tlp-" + state);
    var old = container.querySelector(":scope > .tlp-status");
    if (old) old.remove();
    if (message) {
      var status = el("p", "tlp-status tlp-status-" + state, message);
      status.setAttribute("role", state === "error" ? "alert" : "status");
      container.appendChild(status);
    }
  }

  /* Fill a lazy container from its shard (no-op once loaded or while loading). */
  TLP.fill = function (container) {
    if (container.dataset.tlpState === "loading" || container.dataset.tlpState === "loaded") {
      return Promise.resolve();
    }
    var module = container.dataset.tlpModule;
    var shard = container.dataset.tlpShard;
    var src = container.dataset.tlpSrc;
    var render = renderers[container.dataset.tlpRender] || renderers.json;
    container.dataset.tlpState = "loading";
    setState(container, "loading", "Loading\u2026");
    return TLP.load(module, shard, src).then(
      function (data) {
        render(data, bodyOf(container), container);
        container.dataset.tlpState = "loaded";
        setState(container, "loaded", null);
      },
      function (error) {
        container.dataset.tlpState = "error";
        setState(container, "error", "Could not load this part of the report: " + error.message);
      }
    );
  };

  function lazyContainers(root) {
    return Array.prototype.slice.call((root || document).querySelectorAll("[data-tlp-src]"));
  }

  /* Open the compile directory entry a link points at (e.g. #[0/0]) and load it. */
  function openTarget() {
    if (!location.hash) return;
    var id;
    try {
      id = decodeURIComponent(location.hash.slice(1));
    } catch (e) {
      id = location.hash.slice(1);
    }
    var target = document.getElementById(id);
    if (!target) return;
    if (target.tagName === "DETAILS") target.open = true;
    if (target.dataset && target.dataset.tlpSrc) TLP.fill(target);
    target.scrollIntoView();
  }

  function init() {
    lazyContainers().forEach(function (container) {
      if (container.tagName === "DETAILS") {
        container.addEventListener("toggle", function () {
          if (container.open) TLP.fill(container);
        });
        if (container.open) TLP.fill(container);
      } else {
        TLP.fill(container);
      }
    });
    window.addEventListener("hashchange", openTarget);
    // A link to the entry already in the address fires no hashchange: open it anyway.
    document.addEventListener("click", function (event) {
      var link = event.target.closest ? event.target.closest('a[href^="#"]') : null;
      if (link && link.getAttribute("href") === location.hash) {
        event.preventDefault();
        openTarget();
      }
    });
    openTarget();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
