/* tlparse-tasks search box (modules/search.py writes the index).
 *
 * The index is a token -> postings map split into shards by the first two characters of a
 * token, consecutive shards packed into a few token files named after their first shard
 * (data/search/t-<prefix>.js, rows sorted by token), and a document table: full chunks
 * (data/search/docs-<rank>-<n>.js) and, by rank, the rest (data/search/docs-open.js), all classic
 * scripts calling TLP.register, so they load from file:// as <script src>. A word typed loads the
 * one file holding its shard; a result needs only its document's chunk. Documents are numbered
 * by rank (compile ids, output code, graphs… in the order ties rank), each rank's from its start
 * on, in log order.
 *
 * A query is words: identifiers (matched as prefixes, case-insensitive) or compile ids (`0/0`,
 * `[0/0_1]`). A page matches when it holds every word; names rank above contents, whole words
 * above prefixes. Log text is inserted as text, never as markup.
 */
(function () {
  "use strict";

  var TLP = (window.TLP = window.TLP || {});
  var SHOWN = 50; // results listed
  var DELAY = 60; // ms after the last key press
  var SAFE = /^[a-z0-9_]$/;
  var COMPILE_ID = /^!?[0-9-]+\/[0-9-]*(\/[0-9-]*)?(_[0-9]*)?$/;
  var IDENTIFIER = /[A-Za-z_][A-Za-z0-9_]*/g;

  /* modules.js is not loaded in an --eager report: a small loader of our own then. */
  if (typeof TLP.load !== "function") {
    var loaded = {};
    var waiting = {};
    TLP.register = function (module, shard, data) {
      var k = module + "/" + shard;
      if (waiting[k]) {
        waiting[k](data);
        delete waiting[k];
      } else {
        loaded[k] = Promise.resolve(data);
      }
    };
    TLP.load = function (module, shard, src) {
      var k = module + "/" + shard;
      if (loaded[k]) return loaded[k];
      loaded[k] = new Promise(function (resolve, reject) {
        waiting[k] = resolve;
        var script = document.createElement("script");
        script.src = src;
        script.async = true;
        script.onerror = function () {
          delete waiting[k];
          delete loaded[k];
          reject(new Error("could not load " + src));
        };
        document.head.appendChild(script);
      });
      return loaded[k];
    };
  }

  /* modules/search.py's shard_of: `t-` and two characters, others than [a-z0-9_] as -<hex>. */
  function shardOf(token) {
    var name = "t-";
    for (var i = 0; i < Math.min(2, token.length); i++) {
      var c = token.charAt(i);
      name += SAFE.test(c) ? c : "-" + ("0" + c.charCodeAt(0).toString(16)).slice(-2);
    }
    return name;
  }

  /* The token file holding `token`'s shard: the last of the sorted file starts that is <= the
   * shard's name (null when the shard sorts before every file, so no token has it). */
  function fileOf(starts, token) {
    var shard = shardOf(token);
    var lo = 0;
    var hi = starts.length;
    while (lo < hi) {
      var mid = (lo + hi) >> 1;
      if (starts[mid] <= shard) lo = mid + 1;
      else hi = mid;
    }
    return lo ? starts[lo - 1] : null;
  }

  /* The words of a query: compile ids as typed (without brackets), identifiers lower-cased. */
  function termsOf(query) {
    var terms = [];
    String(query || "")
      .split(/\s+/)
      .forEach(function (word) {
        var bare = word.replace(/^\[/, "").replace(/\]$/, "");
        if (COMPILE_ID.test(bare)) {
          terms.push(bare.toLowerCase());
          return;
        }
        (word.match(IDENTIFIER) || []).forEach(function (id) {
          terms.push(id.toLowerCase());
        });
      });
    return terms.filter(function (t, i) {
      return t.length >= 2 && terms.indexOf(t) === i;
    });
  }

  /* The rows of a token file whose token starts with `term` (binary search, then a scan). */
  function matching(rows, term) {
    var lo = 0;
    var hi = rows.length;
    while (lo < hi) {
      var mid = (lo + hi) >> 1;
      if (rows[mid][0] < term) lo = mid + 1;
      else hi = mid;
    }
    var found = [];
    for (var i = lo; i < rows.length && rows[i][0].lastIndexOf(term, 0) === 0; i++) found.push(rows[i]);
    return found;
  }

  /* doc -> {score, word} for one term; `cut` when a token lists fewer pages than hold it. */
  function scoresOf(rows, term) {
    var scores = {};
    var cut = false;
    matching(rows, term).forEach(function (row) {
      var token = row[0];
      if (row[1] > row[2].length) cut = true;
      row[2].forEach(function (posting) {
        var doc = posting >> 1;
        var score = (token === term ? 2 : 1) + (posting & 1 ? 4 : 0);
        var old = scores[doc];
        if (!old || old.score < score) scores[doc] = { score: score, word: token };
      });
    });
    return { scores: scores, cut: cut };
  }

  /* Pages holding every term, best first: [{doc, score, words}]. */
  function rank(perTerm) {
    var first = perTerm[0].scores;
    var hits = [];
    Object.keys(first).forEach(function (key) {
      var score = 0;
      var words = [];
      for (var t = 0; t < perTerm.length; t++) {
        var hit = perTerm[t].scores[key];
        if (!hit) return;
        score += hit.score;
        if (words.indexOf(hit.word) === -1) words.push(hit.word);
      }
      hits.push({ doc: Number(key), score: score, words: words });
    });
    hits.sort(function (a, b) {
      return b.score - a.score || a.doc - b.doc;
    });
    return hits;
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  /* Our hrefs are report paths or #fragments; anything with a scheme is not followed. */
  function safeHref(url) {
    if (typeof TLP.safeHref === "function") return TLP.safeHref(url);
    return typeof url === "string" && !/^\s*[A-Za-z][A-Za-z0-9+.-]*:/.test(url) ? url : null;
  }

  function resultItem(doc, hit) {
    var li = el("li", "tlp-search-result");
    var href = safeHref(doc[0]);
    var link = el(href === null ? "span" : "a", "tlp-search-title", doc[1]);
    if (href !== null) link.setAttribute("href", href);
    li.appendChild(link);
    li.appendChild(document.createTextNode(" "));
    li.appendChild(el("span", "tlp-search-kind", doc[2]));
    if (doc[3] && doc[3] !== doc[1]) {
      li.appendChild(document.createTextNode(" "));
      li.appendChild(el("span", "tlp-cid", doc[3]));
    }
    if (hit.words.length) {
      var words = el("span", "tlp-search-words");
      hit.words.forEach(function (word, i) {
        if (i) words.appendChild(document.createTextNode(" "));
        words.appendChild(el("code", null, word));
      });
      li.appendChild(document.createTextNode(" "));
      li.appendChild(words);
    }
    if (doc[4]) li.appendChild(el("div", "tlp-search-note", doc[4]));
    return li;
  }

  function Search(block) {
    var data = block.dataset;
    this.block = block;
    this.module = data.tlpSearchModule;
    this.root = data.tlpSearchRoot;
    this.files = (data.tlpSearchFiles || "").split(" ").filter(Boolean).sort();
    this.perShard = Number(data.tlpSearchDocsPerShard) || 500;
    this.rankStarts = (data.tlpSearchRankStarts || "0").split(" ").filter(Boolean).map(Number);
    this.fullChunks = (data.tlpSearchFullChunks || "").split(" ").filter(Boolean).map(Number);
    this.maxPostings = data.tlpSearchMaxPostings;
    this.input = block.querySelector("input#search");
    this.status = block.querySelector(".tlp-search-status");
    this.list = block.querySelector(".tlp-search-results");
    this.seq = 0;
    this.timer = null;
    this.typed = 0;
  }

  /* Where document `doc`'s row is: [shard, rank in docs-open or -1, index in the rows]. */
  Search.prototype.placeOf = function (doc) {
    var rank = 0; // the last rank starting at or before doc (an empty rank starts where the next does)
    while (rank + 1 < this.rankStarts.length && this.rankStarts[rank + 1] <= doc) rank++;
    var at = doc - this.rankStarts[rank];
    var chunk = Math.floor(at / this.perShard);
    var full = this.fullChunks[rank] || 0;
    if (chunk < full) return ["docs-" + rank + "-" + chunk, -1, at % this.perShard];
    return ["docs-open", rank, at - full * this.perShard];
  };

  Search.prototype.load = function (shard) {
    return TLP.load(this.module, shard, this.root + shard + ".js");
  };

  /* The rows of the token file that would hold a term ([] when there is none). */
  Search.prototype.rowsOf = function (term) {
    var file = fileOf(this.files, term);
    return file ? this.load(file) : Promise.resolve([]);
  };

  Search.prototype.show = function (message, items, state) {
    this.status.textContent = message;
    this.block.dataset.tlpSearchState = state;
    this.list.textContent = "";
    if (items) this.list.appendChild(items);
  };

  Search.prototype.run = function () {
    var self = this;
    var seq = ++this.seq;
    var started = this.typed || performance.now(); // the key press: the wait includes the delay
    var terms = termsOf(this.input.value);
    if (!terms.length) {
      this.show(this.input.value.trim() ? "Type at least two letters of a word, or a compile id such as 0/0." : "", null, "idle");
      return Promise.resolve();
    }
    this.block.dataset.tlpSearchState = "searching";
    return Promise.all(terms.map(function (term) { return self.rowsOf(term); }))
      .then(function (files) {
        var perTerm = files.map(function (rows, i) { return scoresOf(rows, terms[i]); });
        var hits = rank(perTerm).slice(0, SHOWN + 1);
        var cut = perTerm.some(function (p) { return p.cut; });
        var chunks = {};
        hits.slice(0, SHOWN).forEach(function (hit) { chunks[self.placeOf(hit.doc)[0]] = true; });
        var names = Object.keys(chunks);
        return Promise.all(names.map(function (n) { return self.load(n); })).then(function (tables) {
          if (seq !== self.seq) return; // a newer query is on its way
          var docs = {};
          names.forEach(function (n, i) { docs[n] = tables[i]; });
          self.render(hits, docs, cut, performance.now() - started);
        });
      })
      .catch(function (error) {
        if (seq === self.seq) self.show("Search failed: " + error.message, null, "error");
      });
  };

  Search.prototype.render = function (hits, docs, cut, ms) {
    var self = this;
    var fragment = document.createDocumentFragment();
    hits.slice(0, SHOWN).forEach(function (hit) {
      var place = self.placeOf(hit.doc);
      var table = docs[place[0]];
      if (table && place[1] >= 0) table = table[place[1]];
      var doc = table && table[place[2]];
      if (doc) fragment.appendChild(resultItem(doc, hit));
    });
    var count = Math.min(hits.length, SHOWN);
    var message = !hits.length ? "Nothing found." : count + (count === 1 ? " match" : " matches");
    if (hits.length > SHOWN) message = "The first " + SHOWN + " matches.";
    if (cut) message += " Some words are in more than " + this.maxPostings + " pages: only the first " + this.maxPostings + " of each were searched.";
    this.block.dataset.tlpSearchMs = String(Math.round(ms));
    this.show(message, fragment, "done");
  };

  Search.prototype.attach = function () {
    var self = this;
    var form = this.block.querySelector("form");
    form.hidden = false;
    this.input.addEventListener("input", function () {
      self.typed = performance.now();
      self.block.dataset.tlpSearchState = "typing";
      clearTimeout(self.timer);
      self.timer = setTimeout(function () { self.run(); }, DELAY);
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault(); // Enter opens the first result
      var first = self.list.querySelector("a[href]");
      if (first) first.click();
    });
    this.input.addEventListener("keydown", function (event) {
      if (event.key === "Escape") {
        self.input.value = "";
        self.run();
      }
    });
    if (this.input.value) this.run(); // a value kept by the browser on back/forward
  };

  TLP.searchTerms = termsOf; // for tests and the curious
  TLP.searchShardOf = shardOf;
  TLP.searchFileOf = fileOf;

  function init() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-tlp-search-module]"), function (block) {
      new Search(block).attach();
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
