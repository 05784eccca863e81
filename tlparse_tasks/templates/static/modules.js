/* tlparse-tasks client loader.
 *
 * Lazy report data ships as classic scripts (data/<module>/<shard>.js) that call
 * TLP.register(module, shard, data): browsers refuse fetch() of file:// URLs, but a
 * <script src> inserted at runtime loads from disk and from any static server alike.
 * Everything from a log is inserted as text (textContent), never as markup.
 *
 * Long lists stay short in index.html: the compile directory shows its first page and one
 * collapsed summary per later page (rendered from a page shard when opened), and a stack-trie
 * frame shows its first links and a button for the rest. A link to an entry not rendered yet
 * (#[7/0]) finds its page through the list's page index shard (data-tlp-index-src).
 */
(function () {
  "use strict";

  var TLP = (window.TLP = window.TLP || {});
  var loaded = {}; // key -> Promise of data (the cache)
  var waiting = {}; // key -> {resolve, reject} while its script loads
  var renderers = (TLP.renderers = TLP.renderers || {});
  var filling = typeof WeakMap === "function" ? new WeakMap() : null; // container -> Promise while loading

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

  /* One compile directory entry (compile_directory.entry_view), as compile_directory.html's
   * `compile_entry` macro; its file list loads when opened from a script (files-<n>.js) that
   * registers the lists of the entries beside it too, so those then open without a load. */
  TLP.compileEntry = function (entry) {
    var details = el("details", "tlp-compile");
    details.id = entry.id;
    if (entry.src) {
      details.dataset.tlpModule = entry.module;
      details.dataset.tlpShard = entry.shard;
      details.dataset.tlpSrc = entry.src;
      details.dataset.tlpRender = "artifacts";
    }
    var summary = el("summary");
    summary.appendChild(el("span", "tlp-cid status-" + entry.status, entry.id));
    summary.appendChild(document.createTextNode(" "));
    summary.appendChild(el("span", "tlp-count", entry.count));
    if (entry.cache_status) {
      summary.appendChild(document.createTextNode(" "));
      summary.appendChild(el("span", "tlp-cache tlp-cache-" + entry.cache_status, "cache " + entry.cache_status));
    }
    details.appendChild(summary);
    var list = el("ul", "tlp-artifacts");
    (entry.items || []).forEach(function (item) {
      list.appendChild(TLP.fileItem(item));
    });
    details.appendChild(list);
    var li = el("li");
    li.appendChild(details);
    return li;
  };

  /* A page of the compile directory: its entries, into the page's own list. */
  renderers["compile-page"] = function (entries, target) {
    var fragment = document.createDocumentFragment();
    entries.forEach(function (entry) {
      fragment.appendChild(TLP.compileEntry(entry));
    });
    target.textContent = "";
    target.appendChild(fragment);
  };

  /* One compile-id link of the stack trie, as stack_trie.html's. */
  TLP.cidLink = function (link) {
    var a = el("a", "tlp-cid" + (link.status ? " status-" + link.status : ""), link.id);
    a.setAttribute("href", "#" + link.id);
    return a;
  };

  /* The rest of a stack-trie frame's links, in place of the button that asked for them. */
  renderers["trie-links"] = function (links, button) {
    var parent = button.parentNode;
    links.forEach(function (link, i) {
      if (i) parent.insertBefore(document.createTextNode(" "), button);
      parent.insertBefore(TLP.cidLink(link), button);
    });
    parent.removeChild(button);
  };

  /* A button holding back links or frames (stack_trie.html's `more_button`). */
  TLP.moreButton = function (more, renderer) {
    var button = el("button", "tlp-more", more.label);
    button.type = "button";
    button.dataset.tlpModule = more.module;
    button.dataset.tlpShard = more.shard;
    button.dataset.tlpSrc = more.src;
    button.dataset.tlpRender = renderer;
    return button;
  };

  /* One frame (frame.html's `frame`, with the report root as root). */
  TLP.frame = function (frame) {
    var fragment = document.createDocumentFragment();
    var href = frame.href ? TLP.safeHref(frame.href) : null;
    var place = el(href ? "a" : "span", "tlp-frame", frame.location);
    if (href) place.setAttribute("href", href);
    fragment.appendChild(place);
    fragment.appendChild(document.createTextNode(" in "));
    fragment.appendChild(el("span", "tlp-fn", frame.name));
    if (frame.loc) {
      fragment.appendChild(el("br"));
      fragment.appendChild(el("code", "tlp-loc", frame.loc));
    }
    return fragment;
  };

  /* Frames held back from a stack-trie list (stack_trie.row_data), in place of the button's
   * item; rows open and close nested lists as stack_trie.html's rows do. */
  renderers["trie-rows"] = function (rows, button) {
    var item = button.parentNode;
    var lists = [item.parentNode];
    rows.forEach(function (row) {
      var li = el("li");
      if (lists.length === 1) lists[0].insertBefore(li, item);
      else lists[lists.length - 1].appendChild(li);
      if (row.more_frames) {
        li.appendChild(TLP.moreButton(row.more_frames, "trie-rows"));
      } else {
        var details = null;
        var holder = li;
        if (row.branching) {
          details = el("details", "tlp-branch");
          details.open = true;
          holder = el("summary");
          details.appendChild(holder);
          li.appendChild(details);
        }
        row.links.forEach(function (link) {
          holder.appendChild(TLP.cidLink(link));
          holder.appendChild(document.createTextNode(" "));
        });
        if (row.more) {
          holder.appendChild(TLP.moreButton(row.more, "trie-links"));
          holder.appendChild(document.createTextNode(" "));
        }
        holder.appendChild(TLP.frame(row.frame));
        if (details) {
          var nested = el("ul");
          details.appendChild(nested);
          lists.push(nested);
        }
      }
      for (var c = 0; c < row.closes && lists.length > 1; c++) lists.pop();
    });
    item.parentNode.removeChild(item);
  };

  /* A `tlp-more` button: load its shard and put what it holds in its place (once). */
  TLP.showMore = function (button) {
    if (button.disabled) return Promise.resolve();
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    var data = button.dataset;
    var render = renderers[data.tlpRender === "trie-rows" ? "trie-rows" : "trie-links"];
    return TLP.load(data.tlpModule, data.tlpShard, data.tlpSrc).then(
      function (held) {
        render(held, button);
      },
      function (error) {
        button.disabled = false;
        button.removeAttribute("aria-busy");
        button.classList.add("tlp-error");
        button.title = "Could not load this part of the trie: " + error.message;
      }
    );
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

  /* Fill a lazy container from its shard (no-op once loaded; while loading, the same promise). */
  TLP.fill = function (container) {
    if (container.dataset.tlpState === "loading" || container.dataset.tlpState === "loaded") {
      return (filling && filling.get(container)) || Promise.resolve();
    }
    var module = container.dataset.tlpModule;
    var shard = container.dataset.tlpShard;
    var src = container.dataset.tlpSrc;
    var render = renderers[container.dataset.tlpRender] || renderers.json;
    container.dataset.tlpState = "loading";
    setState(container, "loading", "Loading\u2026");
    var promise = TLP.load(module, shard, src).then(
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
    if (filling) {
      filling.set(container, promise);
      promise.then(function () {
        filling.delete(container);
      });
    }
    return promise;
  };

  /* The page (a lazy container) that will hold the element `id` once filled, from the page
   * indexes of the long lists ([[container id, [element ids]], ...]); null if none knows it. */
  TLP.locate = function (id) {
    var finders = Array.prototype.slice.call(document.querySelectorAll("[data-tlp-index-src]"));
    function search(i) {
      if (i >= finders.length) return Promise.resolve(null);
      var data = finders[i].dataset;
      return TLP.load(data.tlpIndexModule, data.tlpIndexShard, data.tlpIndexSrc).then(
        function (pages) {
          for (var p = 0; p < pages.length; p++) {
            if (pages[p][1].indexOf(id) !== -1) return document.getElementById(pages[p][0]);
          }
          return search(i + 1);
        },
        function () {
          return search(i + 1);
        }
      );
    }
    return search(0);
  };

  function hashId() {
    if (!location.hash) return "";
    try {
      return decodeURIComponent(location.hash.slice(1));
    } catch (e) {
      return location.hash.slice(1);
    }
  }

  /* Show an element: open the details around it and itself, load it, scroll to it. */
  function reveal(target) {
    for (var node = target.parentElement; node; node = node.parentElement) {
      if (node.tagName === "DETAILS" && !node.open) node.open = true;
    }
    if (target.tagName === "DETAILS") target.open = true;
    if (target.dataset && target.dataset.tlpSrc) TLP.fill(target);
    target.scrollIntoView();
  }

  /* Open the compile directory entry a link points at (e.g. #[0/0]) and load it, rendering its
   * page first when it is not in the document yet. Resolves to whether it was found. */
  function openTarget() {
    var id = hashId();
    if (!id) return Promise.resolve(false);
    var target = document.getElementById(id);
    if (target) {
      reveal(target);
      return Promise.resolve(true);
    }
    return TLP.locate(id).then(function (container) {
      if (!container) return false;
      container.open = true;
      return TLP.fill(container).then(function () {
        var found = document.getElementById(id);
        if (found && hashId() === id) reveal(found);
        return Boolean(found);
      });
    });
  }
  TLP.openTarget = openTarget;

  /* What a reader types into a go-to box: `3/0` or `[3/0]`. */
  function compileIdOf(text) {
    var id = String(text || "").trim();
    if (id && id.charAt(0) !== "[" && id.charAt(0) !== "(") id = "[" + id + "]";
    return id;
  }

  function onGoto(event) {
    var form = event.target;
    if (!(form.matches && form.matches("form[data-tlp-goto]"))) return;
    event.preventDefault();
    var id = compileIdOf(form.elements.compile_id.value);
    var status = form.querySelector(".tlp-goto-status");
    if (!id) return;
    status.textContent = "";
    if (hashId() !== id) history.pushState(null, "", "#" + id);
    openTarget().then(function (found) {
      if (!found) status.textContent = "No compile id " + id + " in this report.";
    });
  }

  function init() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-tlp-src]"), function (container) {
      if (container.tagName === "DETAILS") {
        if (container.open) TLP.fill(container);
      } else if (!container.classList.contains("tlp-more")) {
        TLP.fill(container);
      }
    });
    // One listener for every lazy <details>, present or rendered later (toggle does not bubble,
    // but it passes the document while capturing).
    document.addEventListener(
      "toggle",
      function (event) {
        var details = event.target;
        if (details.tagName === "DETAILS" && details.open && details.dataset.tlpSrc) TLP.fill(details);
      },
      true
    );
    window.addEventListener("hashchange", openTarget);
    document.addEventListener("click", function (event) {
      if (!event.target.closest) return;
      var more = event.target.closest("button.tlp-more[data-tlp-src]");
      if (more) {
        event.preventDefault(); // a button in a <summary> must not fold the frame
        TLP.showMore(more);
        return;
      }
      // A link to the entry already in the address fires no hashchange: open it anyway.
      var link = event.target.closest('a[href^="#"]');
      if (link && link.getAttribute("href") === location.hash) {
        event.preventDefault();
        openTarget();
      }
    });
    document.addEventListener("submit", onGoto);
    openTarget();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
