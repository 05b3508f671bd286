/* assets: the hub's only static files, embedded in the binary (no external
 * resources; served from 'self' so a strict CSP holds). */
#include "hub/internal.h"

static const char style_css[] =
    ":root{--fg:#1d2430;--muted:#5b6472;--bg:#f4f6f9;--card:#fff;--line:#d9dee6;--accent:#1f5fbf;"
    "--danger:#b3261e;}\n"
    "*{box-sizing:border-box}\n"
    "body{margin:0;font:15px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:var(--fg);"
    "background:var(--bg)}\n"
    ".topbar{display:flex;align-items:center;gap:1rem;padding:.6rem 1.2rem;background:#17212f;color:#e8edf4}\n"
    ".topbar a{color:#e8edf4;text-decoration:none}\n"
    ".brand{font-weight:700;letter-spacing:.02em;margin-right:auto}\n"
    ".who{color:#c4cedb}\n"
    "main{max-width:56rem;margin:2rem auto;padding:0 1rem}\n"
    ".card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:1.5rem 1.75rem}\n"
    ".narrow{max-width:24rem;margin:0 auto}\n"
    "h1{font-size:1.4rem;margin:0 0 1rem}\n"
    "label{display:block;margin:.8rem 0 .25rem;font-weight:600}\n"
    "input[type=text],input[type=password]{width:100%;padding:.5rem .6rem;border:1px solid var(--line);"
    "border-radius:6px;font:inherit}\n"
    "button,.button{display:inline-block;padding:.5rem 1rem;border:1px solid var(--line);border-radius:6px;"
    "background:#eef1f5;color:var(--fg);font:inherit;cursor:pointer;text-decoration:none}\n"
    "form>button{margin-top:1rem}\n"
    ".actions{display:flex;flex-wrap:wrap;gap:.6rem;align-items:center}\n"
    ".actions form>button{margin-top:0}\n"
    ".primary{background:var(--accent);border-color:var(--accent);color:#fff}\n"
    ".danger{background:#fff;border-color:var(--danger);color:var(--danger)}\n"
    "button.link{background:none;border:0;color:#e8edf4;padding:0;margin:0;text-decoration:underline}\n"
    "form.inline{display:inline;margin:0}\n"
    ".error{color:var(--danger)}\n"
    ".status{color:var(--muted)}\n"
    "progress{width:100%;height:1.2rem;margin:.5rem 0}\n"
    ".log{color:var(--muted);font-size:.9rem;padding-left:1.2rem}\n"
    "[hidden]{display:none!important}\n";

/* Progress of a spawn: EventSource on the progress URL (JupyterHub's event
 * format); text only (textContent), never HTML from the stream. */
static const char spawn_js[] =
    "(function () {\n"
    "  'use strict';\n"
    "  var root = document.getElementById('progress');\n"
    "  if (!root || !window.EventSource) { return; }\n"
    "  var bar = document.getElementById('progress-bar');\n"
    "  var msg = document.getElementById('progress-message');\n"
    "  var log = document.getElementById('progress-log');\n"
    "  var failed = document.getElementById('progress-failed');\n"
    "  var nextUrl = root.getAttribute('data-next-url');\n"
    "  var done = false;\n"
    "  var es = new EventSource(root.getAttribute('data-progress-url'));\n"
    "  function show(text) {\n"
    "    if (!text) { return; }\n"
    "    msg.textContent = text;\n"
    "    var li = document.createElement('li');\n"
    "    li.textContent = text;\n"
    "    log.appendChild(li);\n"
    "  }\n"
    "  es.onmessage = function (ev) {\n"
    "    var data;\n"
    "    try { data = JSON.parse(ev.data); } catch (e) { return; }\n"
    "    if (typeof data.progress === 'number') {\n"
    "      bar.value = data.progress;\n"
    "      bar.textContent = data.progress + '%';\n"
    "    }\n"
    "    show(data.message);\n"
    "    if (data.ready) {\n"
    "      done = true;\n"
    "      es.close();\n"
    "      var url = typeof data.url === 'string' && data.url.charAt(0) === '/' && data.url.charAt(1) !== '/'\n"
    "        ? data.url : nextUrl;\n"
    "      window.location.assign(url);\n"
    "    } else if (data.failed) {\n"
    "      done = true;\n"
    "      es.close();\n"
    "      root.classList.add('failed');\n"
    "      failed.hidden = false;\n"
    "    }\n"
    "  };\n"
    "  es.onerror = function () {\n"
    "    if (done) { return; }\n"
    "    if (es.readyState === EventSource.CLOSED) {\n"
    "      window.setTimeout(function () { window.location.reload(); }, 2000);\n"
    "    }\n"
    "  };\n"
    "})();\n";

bool hub__asset_get(const char *path, const char **ret_type, const char **ret_body, size_t *ret_len)
{
	if (strcmp(path, "/hub/static/style.css") == 0) {
		*ret_type = "text/css; charset=utf-8";
		*ret_body = style_css;
		*ret_len = sizeof(style_css) - 1;
		return true;
	}
	if (strcmp(path, "/hub/static/spawn.js") == 0) {
		*ret_type = "text/javascript; charset=utf-8";
		*ret_body = spawn_js;
		*ret_len = sizeof(spawn_js) - 1;
		return true;
	}
	return false;
}
