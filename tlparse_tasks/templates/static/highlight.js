/* highlight.js: colours the code pages of a tlparse report in the browser.
 *
 * A code page arrives complete as plain text: <pre class="tlp-code" data-lang="python|cpp">
 * holds blocks (<span class="tlp-chunk">) of <span id="L<n>" class="tlp-line">, one per source
 * line, each followed by the source's own newline. This script tokenizes that text with small lexers that follow the rules of
 * Pygments' Python and C++ lexers and writes Pygments' short token classes (k, kn, nf, s1, mi,
 * c1, ...), so the shared pygments.css colours lazy pages like --eager ones. The lines on screen
 * are coloured at once, the rest in short slices, so a big page stays responsive. The text is
 * never changed: copying still gives the source. No network, no dependencies.
 *
 * Known differences from Pygments (tests/test_highlighter.py checks the rest):
 * - Python: `\b`, `\d`, `\w` are ASCII here (Unicode in Python's `re`), so a keyword glued to a
 *   non-ASCII letter, or non-ASCII digits, may be classed differently.
 * - C++: C++26 annotations (`[[=...]]`) are not recognised.
 */
(function () {
  "use strict";

  var MAX_CHARS = 8 << 20;   // bigger sources stay plain text (the page is complete without us)
  var SLICE_MS = 25;         // work per slice before yielding to the browser
  var MARGIN_LINES = 20;     // lines coloured around the visible ones in the first pass

  // ---- the lexer engine: Pygments' RegexLexer model (states of ordered rules, a state stack) ----

  var NAME = "[_\\p{XID_Start}][\\p{XID_Continue}]*";

  /* A rule: a pattern tried at the current position (sticky, multiline, unicode), what to emit
   * (one class, one class per group, or "this" to lex the group from the root state), and an
   * optional state change: "#pop", "#push", a state name, or a list of them applied in order. */
  function rule(source, emit, next) {
    return { re: new RegExp(source, "myu"), emit: emit, next: next };
  }

  /* Words as one alternation, longest first, so "yield from" wins over "yield". */
  function words(list, prefix, suffix) {
    var sorted = list.slice().sort(function (a, b) { return b.length - a.length; });
    return (prefix || "") + "(" + sorted.join("|") + ")" + (suffix || "");
  }

  function Lexer(states, text, start, post) {
    this.states = states;
    this.text = text;
    this.pos = 0;
    this.stack = start ? start.slice() : ["root"];
    this.post = post || null;  // a last word on a class (C++: standard type names)
  }

  /* Apply one rule (or the fallback) and push its tokens as [class, text] pairs. */
  Lexer.prototype.step = function (out) {
    var text = this.text, pos = this.pos;
    var rules = this.states[this.stack[this.stack.length - 1]];
    for (var i = 0; i < rules.length; i++) {
      var r = rules[i];
      r.re.lastIndex = pos;
      var m = r.re.exec(text);
      if (m === null) continue;
      this.emit(r.emit, m, out);
      this.pos = pos + m[0].length;
      if (r.next !== undefined) this.transition(r.next);
      return true;
    }
    if (pos >= text.length) return false;
    if (text.charAt(pos) === "\n") {  // no rule: a newline resets to the root state
      this.stack = ["root"];
      out.push(["w", "\n"]);
    } else {
      out.push(["err", text.charAt(pos)]);
    }
    this.pos = pos + 1;
    return true;
  };

  Lexer.prototype.emit = function (emit, m, out) {
    if (typeof emit === "string") {
      if (m[0] !== "") out.push([this.classOf(emit, m[0]), m[0]]);
      return;
    }
    for (var g = 0; g < emit.length; g++) {
      var value = m[g + 1];
      if (value === undefined || value === "" || emit[g] === null) continue;
      if (emit[g].lastIndexOf("this", 0) === 0) {  // "this" or "this:<state>"
        var from = emit[g].length > 4 ? ["root", emit[g].slice(5)] : null;
        var inner = new Lexer(this.states, value, from, this.post);
        while (inner.step(out)) { /* lex the group on its own, from the root state */ }
      } else {
        out.push([this.classOf(emit[g], value), value]);
      }
    }
  };

  Lexer.prototype.classOf = function (cls, value) {
    return this.post ? this.post(cls, value) : cls;
  };

  Lexer.prototype.transition = function (next) {
    var steps = typeof next === "string" ? [next] : next;
    for (var i = 0; i < steps.length; i++) {
      var s = steps[i];
      if (s === "#pop") { if (this.stack.length > 1) this.stack.pop(); }
      else if (s === "#push") this.stack.push(this.stack[this.stack.length - 1]);
      else this.stack.push(s);
    }
  };

  /* States built from parts, like Pygments' include() and combined(). */
  function concat() {
    return Array.prototype.concat.apply([], arguments);
  }

  // ---- Python (pygments.lexers.python.PythonLexer) ----

  var PY_KEYWORDS = ["assert", "async", "await", "break", "continue", "del", "elif", "else",
    "except", "finally", "for", "global", "if", "lambda", "pass", "raise", "nonlocal", "return",
    "try", "while", "yield", "yield from", "as", "with"];
  var PY_EXPR_KEYWORDS = ["async for", "await", "else", "for", "if", "lambda", "yield", "yield from"];
  var PY_HARD_KEYWORDS = ["and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield"];
  var PY_BUILTINS = ["__import__", "abs", "aiter", "all", "any", "bin", "bool", "bytearray",
    "breakpoint", "bytes", "callable", "chr", "classmethod", "compile", "complex", "delattr",
    "dict", "dir", "divmod", "enumerate", "eval", "filter", "float", "format", "frozendict",
    "frozenset", "getattr", "globals", "hasattr", "hash", "hex", "id", "input", "int",
    "isinstance", "issubclass", "iter", "len", "list", "locals", "map", "max", "memoryview",
    "min", "next", "object", "oct", "open", "ord", "pow", "print", "property", "range", "repr",
    "reversed", "round", "sentinel", "set", "setattr", "slice", "sorted", "staticmethod", "str",
    "sum", "super", "tuple", "type", "vars", "zip"];
  var PY_EXCEPTIONS = ["ArithmeticError", "AssertionError", "AttributeError", "BaseException",
    "BufferError", "BytesWarning", "DeprecationWarning", "EOFError", "EnvironmentError",
    "Exception", "FloatingPointError", "FutureWarning", "GeneratorExit", "IOError",
    "ImportError", "ImportWarning", "IndentationError", "IndexError", "KeyError",
    "KeyboardInterrupt", "LookupError", "MemoryError", "NameError", "NotImplementedError",
    "OSError", "OverflowError", "PendingDeprecationWarning", "ReferenceError", "ResourceWarning",
    "RuntimeError", "RuntimeWarning", "StopIteration", "SyntaxError", "SyntaxWarning",
    "SystemError", "SystemExit", "TabError", "TypeError", "UnboundLocalError",
    "UnicodeDecodeError", "UnicodeEncodeError", "UnicodeError", "UnicodeTranslateError",
    "UnicodeWarning", "UserWarning", "ValueError", "VMSError", "Warning", "WindowsError",
    "ZeroDivisionError", "BlockingIOError", "ChildProcessError", "ConnectionError",
    "BrokenPipeError", "ConnectionAbortedError", "ConnectionRefusedError",
    "ConnectionResetError", "FileExistsError", "FileNotFoundError", "InterruptedError",
    "IsADirectoryError", "NotADirectoryError", "PermissionError", "ProcessLookupError",
    "TimeoutError", "StopAsyncIteration", "ModuleNotFoundError", "RecursionError",
    "EncodingWarning"];
  var PY_MAGIC_FUNCS = ("abs add aenter aexit aiter and anext await bool bytes call complex " +
    "contains del delattr delete delitem dir divmod enter eq exit float floordiv format ge get " +
    "getattr getattribute getitem gt hash iadd iand ifloordiv ilshift imatmul imod imul index " +
    "init instancecheck int invert ior ipow irshift isub iter itruediv ixor le len length_hint " +
    "lshift lt matmul missing mod mul ne neg new next or pos pow prepare radd rand rdivmod repr " +
    "reversed rfloordiv rlshift rmatmul rmod rmul ror round rpow rrshift rshift rsub rtruediv " +
    "rxor set setattr setitem str sub subclasscheck truediv xor").split(" ")
    .map(function (w) { return "__" + w + "__"; });
  var PY_MAGIC_VARS = ("annotations bases class closure code defaults dict doc file func " +
    "globals kwdefaults module mro name objclass qualname self slots weakref").split(" ")
    .map(function (w) { return "__" + w + "__"; });

  var B = "\\b";
  var SPACE_OR_CONT = "((?:\\s|\\\\\\s)+)";

  function pythonStates() {
    var magicFuncs = [rule(words(PY_MAGIC_FUNCS, "", B), "fm")];

    function innerString(cls) {  // text of '...' and "..." strings: %-formats and {}-fields
      return [
        rule("%(\\(\\w+\\))?[-#0 +]*([0-9]+|[*])?(\\.([0-9]+|[*]))?[hlL]?[E-GXc-giorsaux%]", "si"),
        rule("\\{((\\w+)((\\.\\w+)|(\\[[^\\]]+\\]))*)?(![sra])?" +
             "(:(.?[<>=\\^])?[-+ ]?#?0?(\\d+)?,?(\\.\\d+)?[E-GXb-gnosx%]?)?\\}", "si"),
        rule("[^\\\\'\"%{\\n]+", cls),
        rule("['\"\\\\]", cls),
        rule("%|(\\{{1,2})", cls),
      ];
    }

    function fString(cls) {  // text of f-strings: {expressions}
      return [
        rule("\\}", "si"),
        rule("\\{", "si", "expr-inside-fstring"),
        rule("[^\\\\'\"{}\\n]+", cls),
        rule("['\"\\\\]", cls),
      ];
    }

    var s = {};
    s.rfstringescape = [rule("\\{\\{", "se"), rule("\\}\\}", "se")];
    s.bytesescape = [rule("\\\\([\\\\abfnrtv\"']|\\n|x[a-fA-F0-9]{2}|[0-7]{1,3})", "se")];
    s.stringescape = concat([rule("\\\\(N\\{.*?\\}|u[a-fA-F0-9]{4}|U[a-fA-F0-9]{8})", "se")],
                            s.bytesescape);
    s.fstringescape = concat(s.rfstringescape, s.stringescape);

    s.dqf = concat([rule('"', "s2", "#pop"), rule('\\\\\\\\|\\\\"|\\\\\\n', "se")], fString("s2"));
    s.sqf = concat([rule("'", "s1", "#pop"), rule("\\\\\\\\|\\\\'|\\\\\\n", "se")], fString("s1"));
    s.dqs = concat([rule('"', "s2", "#pop"), rule('\\\\\\\\|\\\\"|\\\\\\n', "se")], innerString("s2"));
    s.sqs = concat([rule("'", "s1", "#pop"), rule("\\\\\\\\|\\\\'|\\\\\\n", "se")], innerString("s1"));
    s.tdqf = concat([rule('"""', "s2", "#pop")], fString("s2"), [rule("\\n", "s2")]);
    s.tsqf = concat([rule("'''", "s1", "#pop")], fString("s1"), [rule("\\n", "s1")]);
    s.tdqs = concat([rule('"""', "s2", "#pop")], innerString("s2"), [rule("\\n", "s2")]);
    s.tsqs = concat([rule("'''", "s1", "#pop")], innerString("s1"), [rule("\\n", "s1")]);

    // combined(escapes, body): a state of its own, named after its parts
    var openers = [];
    function strings(prefix, escapes, kind) {  // kind: "s" (plain) or "f" (f-string)
      var quotes = [['"""', "td", "s2"], ["'''", "ts", "s1"], ['"', "d", "s2"], ["'", "s", "s1"]];
      quotes.forEach(function (q) {
        var body = q[1] + "q" + kind;
        var state = escapes ? escapes + "+" + body : body;
        if (!s[state]) s[state] = concat(s[escapes] || [], s[body]);
        openers.push(rule("(" + prefix + ")(" + q[0] + ")", ["sa", q[2]], state));
      });
    }
    strings("[rR][fFtT]|[fFtT][rR]", "rfstringescape", "f");
    strings("[fFtT]", "fstringescape", "f");
    strings("[rR][bB]|[bB][rR]|[rR]", null, "s");
    strings("[uU]?", "stringescape", "s");
    strings("[bB]", "bytesescape", "s");

    s.numbers = [
      rule("(\\d(?:_?\\d)*\\.(?:\\d(?:_?\\d)*)?|(?:\\d(?:_?\\d)*)?\\.\\d(?:_?\\d)*)" +
           "([eE][+-]?\\d(?:_?\\d)*)?", "mf"),
      rule("\\d(?:_?\\d)*[eE][+-]?\\d(?:_?\\d)*j?", "mf"),
      rule("0[oO](?:_?[0-7])+", "mo"),
      rule("0[bB](?:_?[01])+", "mb"),
      rule("0[xX](?:_?[a-fA-F0-9])+", "mh"),
      rule("\\d(?:_?\\d)*", "mi"),
    ];
    s.expr = concat(openers, [rule("[^\\S\\n]+", "")], s.numbers, [
      rule("!=|==|<<|>>|:=|[-~+/*%=<>&^|.]", "o"),
      rule("[\\]{}:(),;[]", "p"),
      rule("(in|is|and|or|not)\\b", "ow"),
      rule(words(PY_EXPR_KEYWORDS, "", B), "k"),
      rule("(True|False|None)\\b", "kc"),
      rule(words(PY_BUILTINS, "(?<!\\.)", B), "nb"),
      rule("(?<!\\.)(self|Ellipsis|NotImplemented|cls)\\b", "bp"),
      rule(words(PY_EXCEPTIONS, "(?<!\\.)", B), "ne"),
    ], magicFuncs, [
      rule(words(PY_MAGIC_VARS, "", B), "vm"),
      rule("@" + NAME, "nd"),
      rule("@", "o"),
      rule(NAME, "n"),
    ]);
    s["expr-inside-fstring"] = concat([
      rule("[{([]", "p", "expr-inside-fstring-inner"),
      rule("(=\\s*)?(![sraf])?\\}", "si", "#pop"),
      rule("(=\\s*)?(![sraf])?:", "si", "#pop"),
      rule("\\s+", "w"),
    ], s.expr);
    s["expr-inside-fstring-inner"] = concat([
      rule("[{([]", "p", "expr-inside-fstring-inner"),
      rule("[\\])}]", "p", "#pop"),
      rule("\\s+", "w"),
    ], s.expr);
    s.root = concat([
      rule("\\n", "w"),
      rule('^(\\s*)([rRuUbB]{0,2})("""[\\s\\S]*?""")', ["w", "sa", "sd"]),
      rule("^(\\s*)([rRuUbB]{0,2})('''[\\s\\S]*?''')", ["w", "sa", "sd"]),
      rule("(?<![\\s\\S])#!.+$", "ch"),
      rule("#.*$", "c1"),
      rule("\\\\\\n", ""),
      rule("\\\\", ""),
      rule(words(PY_KEYWORDS, "", B), "k"),
      rule("(True|False|None)\\b", "kc"),
      rule("(^[ \\t]*)(match|case)\\b(?![ \\t]*(?:[:,;=^&|@~)\\]}]|(?:" +
           PY_HARD_KEYWORDS.join("|") + ")\\b))", ["", "k"], "soft-keywords-inner"),
      rule("(def)" + SPACE_OR_CONT, ["k", "w"], "funcname"),
      rule("(class)" + SPACE_OR_CONT, ["k", "w"], "classname"),
      rule("^(lazy)" + SPACE_OR_CONT + "(from)" + SPACE_OR_CONT, ["kn", "w", "kn", "w"], "fromimport"),
      rule("^(lazy)" + SPACE_OR_CONT + "(import)" + SPACE_OR_CONT, ["kn", "w", "kn", "w"], "import"),
      rule("(from)" + SPACE_OR_CONT, ["kn", "w"], "fromimport"),
      rule("(import)" + SPACE_OR_CONT, ["kn", "w"], "import"),
    ], s.expr);
    s["soft-keywords-inner"] = [
      rule("(\\s+)([^\\n_]*)(_\\b)", ["w", "this", "k"]),
      rule("", "", "#pop"),
    ];
    s.funcname = concat(magicFuncs, [rule(NAME, "nf", "#pop"), rule("", "", "#pop")]);
    s.classname = [rule(NAME, "nc", "#pop")];
    s["import"] = [
      rule("(\\s+)(as)(\\s+)", ["w", "k", "w"]),
      rule("\\.", "nn"),
      rule(NAME, "nn"),
      rule("(\\s*)(,)(\\s*)", ["w", "o", "w"]),
      rule("", "", "#pop"),
    ];
    s.fromimport = [
      rule("(\\s+)(import)\\b", ["w", "kn"], "#pop"),
      rule("\\.", "nn"),
      rule("None\\b", "kc", "#pop"),
      rule(NAME, "nn"),
      rule("", "", "#pop"),
    ];
    return s;
  }

  // ---- C and C++ (pygments.lexers.c_cpp.CppLexer, without the function-signature rules) ----

  var C_IDENT = "(?!\\d)(?:[\\w$]|\\\\u[0-9a-fA-F]{4}|\\\\U[0-9a-fA-F]{8})+";
  var C_WS1 = "\\s*(?:/[*].*?[*]/\\s*)?";
  var C_NS_IDENT = "(?!\\d)(?:[\\w$]|\\\\u[0-9a-fA-F]{4}|\\\\U[0-9a-fA-F]{8}|::)+";
  var C_COMMENTS = "\\s*(?:(?:(?://(?:.|(?<=\\\\)\\n)*\\n)|(?:/(?:\\\\\\n)?[*](?:[^*]|[*](?!(?:\\\\\\n)?/))*[*](?:\\\\\\n)?/))\\s*)*";
  var C_HEX = "[0-9a-fA-F]('?[0-9a-fA-F])*";
  var C_DEC = "\\d('?\\d)*";
  var C_INTSUFFIX = "(([uU]?[zZ])|([zZ][uU])|([uU][lL]{0,2})|([lL]{1,2}[uU]?))?";
  var C_KEYWORDS = ["asm", "auto", "break", "const", "constexpr", "continue", "countof", "default",
    "defer", "do", "else", "enum", "extern", "for", "goto", "if", "register", "restricted",
    "return", "sizeof", "struct", "static", "switch", "typedef", "typeof", "typeof_unqual",
    "volatile", "while", "union", "thread_local", "alignas", "alignof", "static_assert",
    "_Pragma", "fortran"];
  var CPP_KEYWORDS = ["catch", "const_cast", "delete", "dynamic_cast", "explicit", "export",
    "friend", "mutable", "new", "operator", "private", "protected", "public",
    "reinterpret_cast", "class", "__restrict", "static_cast", "template", "this", "throw",
    "throws", "try", "typeid", "using", "virtual", "concept", "decltype", "noexcept", "override",
    "final", "constinit", "consteval", "co_await", "co_return", "co_yield", "requires", "import",
    "module", "typename", "and", "and_eq", "bitand", "bitor", "compl", "not", "not_eq", "or",
    "or_eq", "xor", "xor_eq", "contract_assert", "pre", "post"];
  var C_RESERVED = ["asm", "based", "except", "stdcall", "cdecl", "fastcall", "declspec",
    "finally", "try", "leave", "w64", "unaligned", "raise", "noop", "identifier", "forceinline",
    "assume", "null"];
  var C_TYPE_NAMES = {};
  ("size_t ssize_t off_t wchar_t ptrdiff_t sig_atomic_t fpos_t clock_t time_t va_list jmp_buf " +
   "FILE DIR div_t ldiv_t mbstate_t wctrans_t wint_t wctype_t byte " +
   "int8_t int16_t int32_t int64_t uint8_t uint16_t uint32_t uint64_t int_least8_t " +
   "int_least16_t int_least32_t int_least64_t uint_least8_t uint_least16_t uint_least32_t " +
   "uint_least64_t int_fast8_t int_fast16_t int_fast32_t int_fast64_t uint_fast8_t " +
   "uint_fast16_t uint_fast32_t uint_fast64_t intptr_t uintptr_t intmax_t uintmax_t " +
   "clockid_t cpu_set_t cpumask_t dev_t gid_t id_t ino_t key_t mode_t nfds_t pid_t rlim_t " +
   "sig_t sighandler_t siginfo_t sigset_t sigval_t socklen_t timer_t uid_t").split(" ")
    .forEach(function (t) { C_TYPE_NAMES[t] = true; });
  ["bool", "char", "char16_t", "char32_t", "char8_t", "int", "long", "llong", "short", "uchar",
   "uint", "ulong", "ullong", "ushort", "schar", "size_t", "ptrdiff_t", "intptr_t", "uintptr_t",
   "intmax_t", "uintmax_t", "wchar_t",
   "int_least8_t", "uint_least8_t", "int_least16_t", "uint_least16_t", "int_least32_t",
   "uint_least32_t", "int_least64_t", "uint_least64_t", "int_fast8_t", "uint_fast8_t",
   "int_fast16_t", "uint_fast16_t", "int_fast32_t", "uint_fast32_t", "int_fast64_t",
   "uint_fast64_t"].forEach(function (t) { C_TYPE_NAMES["atomic_" + t] = true; });

  function cppStates() {
    var s = {};
    s.whitespace = [
      rule("^#if\\s+0", "cp", "if0"),
      rule("^#", "cp", "macro"),
      rule("^(" + C_WS1 + ")(#if\\s+0)", ["this", "cp"], "if0"),
      rule("^(" + C_WS1 + ")(#)", ["this", "cp"], "macro"),
      rule("(^[ \\t]*)(?!(?:public|private|protected|default)\\b)(" + C_IDENT + ")(\\s*)(:)(?!:)",
           ["w", "nl", "w", "p"]),
      rule("\\n", "w"),
      rule("[^\\S\\n]+", "w"),
      rule("\\\\\\n", ""),
      rule("//(?:.|(?<=\\\\)\\n)*\\n", "c1"),
      rule("/(?:\\\\\\n)?[*](?:[^*]|[*](?!(?:\\\\\\n)?/))*[*](?:\\\\\\n)?/", "cm"),
      rule("/(\\\\\\n)?[*][\\w\\W]*", "cm"),
    ];
    s.types = [
      rule("char(16_t|32_t|8_t)\\b", "kt"),
      rule(words(["int8", "int16", "int32", "int64", "wchar_t"], "__", B), "kr"),
      rule(words(["bool", "int", "long", "float", "short", "double", "char", "unsigned",
                  "signed", "void", "_BitInt", "__int128"], "", B), "kt"),
    ];
    s.keywords = [
      rule("(class|concept|typename)(\\s+)", ["k", "w"], "classname"),
      rule(words(CPP_KEYWORDS, "", B), "k"),
      rule("namespace\\b", "k", "namespace"),
      rule("(enum)(\\s+)", ["k", "w"], "enumname"),
      rule("(struct|union)(\\s+)", ["k", "w"], "classname"),
      rule("case\\b", "k", "case-value"),
      rule(words(C_KEYWORDS, "", B), "k"),
      rule(words(["inline", "_inline", "__inline", "naked", "restrict", "thread"], "", B), "kr"),
      rule("(__m(128i|128d|128|64))\\b", "kr"),
      rule(words(C_RESERVED, "__", B), "kr"),
    ];
    s.statements = concat([
      rule("((?:[LuU]|u8)?R)(\")([^\\\\()\\s]{0,16})(\\()([\\s\\S]*?)(\\)\\3)(\")",
           ["sa", "s", "dl", "dl", "s", "dl", "s"]),
      rule("\\[\\[(?=[^\\[\\]]*\\]\\])", "p", "attribute"),
    ], s.keywords, s.types, [
      rule("([LuU]|u8)?(\")", ["sa", "s"], "string"),
      rule("([LuU]|u8)?(')(\\\\.|\\\\[0-7]{1,3}|\\\\x[a-fA-F0-9]{1,2}|[^\\\\'\\n])(')",
           ["sa", "sc", "sc", "sc"]),
      rule("0[xX](" + C_HEX + "\\." + C_HEX + "|\\." + C_HEX + "|" + C_HEX + ")[pP][+-]?" +
           C_HEX + "[lL]?", "mf"),
      rule("(-)?(" + C_DEC + "\\." + C_DEC + "|\\." + C_DEC + "|" + C_DEC + ")[eE][+-]?" +
           C_DEC + "[fFlL]?", "mf"),
      rule("(-)?((" + C_DEC + "\\.(" + C_DEC + ")?|\\." + C_DEC + ")[fFlL]?)|(" + C_DEC +
           "[fFlL])", "mf"),
      rule("(-)?0[xX]" + C_HEX + C_INTSUFFIX, "mh"),
      rule("(-)?0[bB][01]('?[01])*" + C_INTSUFFIX, "mb"),
      rule("(-)?0('?[0-7])+" + C_INTSUFFIX, "mo"),
      rule("(-)?" + C_DEC + C_INTSUFFIX, "mi"),
      rule("[~!%^&*+=|?:<>/-]", "o"),
      rule("[()\\[\\],.]", "p"),
      rule("(true|false|NULL|nullptr)\\b", "nb"),
      rule(C_IDENT, "n"),
    ]);
    // A function definition (then its body) or declaration, found by looking over its signature.
    var signature = "(" + C_NS_IDENT + "(?:[&*\\s])+)(" + C_COMMENTS + ")(" + C_NS_IDENT + ")(" +
      C_COMMENTS + ")(\\([^;\"')]*?\\))(" + C_COMMENTS + ")";
    var signatureClasses = ["this", "this:whitespace", "nf", "this:whitespace", "this", "this:whitespace", "this", "p"];
    // (Pygments' C++ root adds Microsoft keywords after its default rule: they never match.)
    s.root = concat(s.whitespace, s.keywords, [
      rule(signature + "([^;{/\"']*)(\\{)", signatureClasses, "function"),
      rule(signature + "([^;/\"']*)(;)", signatureClasses),
    ], s.types, [rule("", "", "statement")]);
    s["function"] = concat(s.whitespace, s.statements, [
      rule(";", "p"),
      rule("\\{", "p", "#push"),
      rule("\\}", "p", "#pop"),
    ]);
    s.statement = concat(s.whitespace, s.statements, [
      rule("\\}", "p"),
      rule("[{;]", "p", "#pop"),
    ]);
    s.string = [
      rule('"', "s", "#pop"),
      rule("\\\\([\\\\abfnrtv\"']|x[a-fA-F0-9]{2,4}|u[a-fA-F0-9]{4}|U[a-fA-F0-9]{8}|[0-7]{1,3})", "se"),
      rule('[^\\\\"\\n]+', "s"),
      rule("\\\\\\n", "s"),
      rule("\\\\", "s"),
    ];
    s.macro = [
      rule("(" + C_WS1 + ")(include)(" + C_WS1 + ")(\"[^\"]+\"|<[^>]+>)([^\\S\\n]*)([^/\\n]*/[*][\\s\\S]*?[*]/)",
           ["this", "cp", "this", "cpf", "this", "cm"]),
      rule("(" + C_WS1 + ")(include)(" + C_WS1 + ")(\"[^\"]+\"|<[^>]+>)([^\\S\\n]*)([^\\n]*)",
           ["this", "cp", "this", "cpf", "this", "c1"]),
      rule("[^/\\n]+", "cp"),
      rule("/[*][\\s\\S]*?[*]/", "cm"),
      rule("//.*?\\n", "c1", "#pop"),
      rule("/", "cp"),
      rule("(?<=\\\\)\\n", "cp"),
      rule("\\n", "cp", "#pop"),
    ];
    s.if0 = [
      rule("^\\s*#if.*?(?<!\\\\)\\n", "cp", "#push"),
      rule("^\\s*#el(?:se|if).*\\n", "cp", "#pop"),
      rule("^\\s*#endif.*?(?<!\\\\)\\n", "cp", "#pop"),
      rule(".*?\\n", "c"),
    ];
    s.classname = concat(s.whitespace, [
      rule("\\[\\[(?=[^\\[\\]]*\\]\\])", "p", "attribute"),
      rule(C_IDENT, "nc", "#pop"),
      rule("\\s*(?=>)", "", "#pop"),
      rule("", "", "#pop"),
    ]);
    s.enumname = concat(s.whitespace, [
      rule("(class|struct)\\b", "k"),
      rule("\\[\\[(?=[^\\[\\]]*\\]\\])", "p", "attribute"),
      rule(C_IDENT, "nc", "#pop"),
      rule("\\s*(?=>)", "", "#pop"),
      rule("", "", "#pop"),
    ]);
    s["case-value"] = concat([
      rule("(?<!:)(:)(?!:)", "p", "#pop"),
      rule(C_IDENT, "no"),
    ], s.whitespace, s.statements);
    s.attribute = concat([
      rule("using\\b", "k"),
      rule(":", "p"),
      rule("\\]\\]", "p", "#pop"),
      rule(C_IDENT, "na"),
      rule("\\(", "p", "attribute-args"),
      rule("::", "p"),
      rule(",", "p"),
    ], s.whitespace);
    s["attribute-args"] = concat([rule("\\)", "p", "#pop"), rule("\\(", "p", "#push")], s.statements);
    s.namespace = concat([
      rule(";", "p", ["#pop", "root"]),
      rule("\\{", "p", ["#pop", "namespace-body"]),
      rule("inline\\b", "kr"),
      rule(C_IDENT, "nn"),
    ], s.statement);
    s["namespace-body"] = concat([rule("\\}", "p", "#pop")], s.root);
    return s;
  }

  function cppPost(cls, value) {  // like CFamilyLexer: standard type names are types
    return cls === "n" && C_TYPE_NAMES[value] === true ? "kt" : cls;
  }

  var LANGUAGES = {
    python: { states: pythonStates(), post: null },
    cpp: { states: cppStates(), post: cppPost },
  };

  /* Every token of `text` as [class, text] ("" = plain text, as Pygments' Text). */
  function tokenize(text, language) {
    var lang = LANGUAGES[language];
    var lexer = new Lexer(lang.states, text, null, lang.post);
    var out = [];
    while (lexer.step(out)) { /* all of it */ }
    return out;
  }

  // ---- from tokens to the HTML of each line ----

  function escapeHtml(value) {
    return value.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  /* Yields the HTML of one source line at a time, lexing only as far as needed. Tokens that
   * span lines (strings, comments) are cut at each newline, as Pygments' formatter does, and
   * adjacent pieces of one class share a span. */
  function LineReader(text, language) {
    var lang = LANGUAGES[language];
    this.lexer = new Lexer(lang.states, text, null, lang.post);
    this.pending = [];   // tokens lexed but not yet placed on a line
    this.next = 0;
    this.done = false;
  }

  LineReader.prototype.line = function () {
    var parts = [], cls = null, run = "";
    function flush() {
      if (run !== "") parts.push(cls ? '<span class="' + cls + '">' + escapeHtml(run) + "</span>" : escapeHtml(run));
      run = "";
    }
    for (;;) {
      if (this.next >= this.pending.length) {
        this.pending.length = 0;
        this.next = 0;
        if (!this.lexer.step(this.pending)) { this.done = true; break; }
        continue;
      }
      var token = this.pending[this.next];
      var value = token[1], newline = value.indexOf("\n");
      var piece = newline < 0 ? value : value.slice(0, newline);
      if (piece !== "") {
        if (token[0] !== cls) { flush(); cls = token[0]; }
        run += piece;
      }
      if (newline < 0) { this.next++; continue; }
      var rest = value.slice(newline + 1);
      if (rest === "") this.next++; else token[1] = rest;
      break;
    }
    flush();
    return parts.join("");
  };

  // ---- the page: visible lines first, then the rest in slices ----

  var yieldToBrowser = (function () {
    if (typeof MessageChannel === "undefined") return function (fn) { setTimeout(fn, 0); };
    var channel = new MessageChannel(), queue = [];
    channel.port1.onmessage = function () { var fn = queue.shift(); if (fn) fn(); };
    return function (fn) { queue.push(fn); channel.port2.postMessage(0); };
  })();

  /* The lines worth colouring first: around an #L<n> target, else those on screen. */
  function firstLines(pre, lines) {
    var target = /^#L(\d+)$/.exec(window.location.hash);
    var lineHeight = lines.length > 1 ? lines[1].offsetTop - lines[0].offsetTop : 0;
    if (!(lineHeight > 0)) lineHeight = 16;
    var screen = Math.ceil(window.innerHeight / lineHeight);
    var first = target ? Number(target[1]) - 1 - screen
                       : Math.floor(-pre.getBoundingClientRect().top / lineHeight);
    first = Math.max(0, first - MARGIN_LINES);
    return [first, Math.min(lines.length, first + 2 * screen + 2 * MARGIN_LINES)];
  }

  function highlightBlock(pre, done) {
    var language = pre.getAttribute("data-lang");
    var lines = pre.getElementsByClassName("tlp-line");  // live: stays right as chunks are redone
    var chunks = pre.children;
    var text = pre.textContent;  // the source, exactly: every line span is followed by its newline
    if (!LANGUAGES[language] || text.length > MAX_CHARS || lines.length === 0) {
      pre.setAttribute("data-highlight", "plain");
      if (done) done();
      return;
    }
    var reader = new LineReader(text, language);
    var html = [], painted = new Uint8Array(lines.length);
    var chunkStart = [], touched = new Uint8Array(chunks.length), chunkOf = new Uint32Array(lines.length);
    for (var c = 0, n = 0; c < chunks.length; c++) {
      chunkStart.push(n);
      for (var k = chunks[c].getElementsByClassName("tlp-line").length; k > 0; k--) chunkOf[n++] = c;
    }
    chunkStart.push(lines.length);
    function lexTo(n) { while (html.length < n && !reader.done) html.push(reader.line()); }
    /* One line in place: the element stays, so an #L<n> :target keeps its highlight. */
    function paintLine(i) {
      if (painted[i] || i >= html.length) return;
      lines[i].innerHTML = html[i];
      painted[i] = 1;
      touched[chunkOf[i]] = 1;
    }
    /* A whole chunk in one parse, unless some of its lines were coloured one by one. */
    function paintChunk(c) {
      var a = chunkStart[c], b = chunkStart[c + 1];
      lexTo(b);
      if (touched[c]) { for (var i = a; i < b; i++) paintLine(i); return; }
      var parts = [];
      for (var j = a; j < b && j < html.length; j++) {
        parts.push('<span id="' + lines[j].id + '" class="tlp-line">' + html[j] + "</span>" +
                   (j + 1 < b || chunks[c].lastChild.nodeType === 3 ? "\n" : ""));
      }
      if (parts.length < b - a) return;  // the lexer ran out early: leave this chunk plain
      chunks[c].innerHTML = parts.join("");
      for (var m = a; m < b; m++) painted[m] = 1;
    }
    function paintFirst() {
      var range = firstLines(pre, lines);
      lexTo(range[1]);
      for (var i = range[0]; i < range[1]; i++) paintLine(i);
    }
    paintFirst();
    window.addEventListener("hashchange", paintFirst);
    pre.setAttribute("data-highlight", "partial");
    var next = 0;
    function slice() {
      var stop = performance.now() + SLICE_MS;
      while (next < chunks.length && performance.now() < stop) paintChunk(next++);
      if (next < chunks.length) { yieldToBrowser(slice); return; }
      window.removeEventListener("hashchange", paintFirst);
      pre.setAttribute("data-highlight", "done");
      if (done) done();
    }
    yieldToBrowser(slice);
  }

  function start() {
    var blocks = document.querySelectorAll('pre.tlp-code[data-highlight="pending"]');
    for (var i = 0; i < blocks.length; i++) highlightBlock(blocks[i], null);
  }

  window.TLPHighlight = { tokenize: tokenize, highlightBlock: highlightBlock, languages: Object.keys(LANGUAGES) };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
