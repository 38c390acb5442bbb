// Starts the web UI. A file of its own, not an inline script: the page's
// Content-Security-Policy allows scripts from this server only. /pkg/start.js (written by
// scripts/build-ui.sh) names this build's files.
//
// Signed out, it first shows index.html's sign-in form, which works on its own: on a slow
// link one signs in while the bundle is still on its way. The bundle is compiled as it
// arrives; the UI starts once no sign-in is under way, with the session the form stored,
// or with what was typed so far moved into its own form.

const TOKEN = "taskgate.token";

// The sign-in texts, as in frontend/locales/*/common.json (a test keeps them equal).
// texts:start
const TEXTS = {
  "en": {
    "intro": "Sign in to submit, approve and watch tasks.",
    "username": "Username",
    "password": "Password",
    "signing_in": "Signing in…",
    "sign_in": "Sign in",
    "loading": "Loading…"
  },
  "zh-CN": {
    "intro": "登录后即可提交、审批和查看任务。",
    "username": "用户名",
    "password": "密码",
    "signing_in": "正在登录…",
    "sign_in": "登录",
    "loading": "加载中…"
  }
};
// texts:end

// The UI's language: the menu's choice (a cookie), else the browser's first language
// the UI has.
function language() {
  const chosen = document.cookie.split("; ").find((c) => c.startsWith("i18n_pref_locale="));
  let picked = null;
  try {
    picked = chosen && decodeURIComponent(chosen.slice("i18n_pref_locale=".length));
  } catch {
    // A cookie that is not percent-encoding: as if there were none.
  }
  if (picked && Object.hasOwn(TEXTS, picked)) return picked;
  for (const l of navigator.languages || [navigator.language || ""]) {
    if (/^zh\b/i.test(l)) return "zh-CN";
    if (/^en\b/i.test(l)) return "en";
  }
  return "en";
}

const lang = language();
const text = TEXTS[lang];
document.documentElement.lang = lang;
const $ = (id) => document.getElementById(id);
$("boot-status").textContent = text.loading;

let shell = null; // the sign-in form, while it is in use
let signingIn = null; // its sign-in, while under way
let starting = false;

// A stored session that has not run out by its own `exp` (read, not verified: the server
// checks it). One that has, or cannot be read, is forgotten: the form shows at once.
function storedToken() {
  let token = null;
  try {
    token = localStorage.getItem(TOKEN);
  } catch {
    return null;
  }
  if (!token) return null;
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const { exp } = JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), "=")));
    if (typeof exp !== "number" || exp * 1000 > Date.now()) return token;
  } catch {
    // not a JWT
  }
  try {
    localStorage.removeItem(TOKEN);
  } catch {
    // storage refused: the UI's own check will sign out
  }
  return null;
}

function showSignIn() {
  const root = $("boot-login");
  for (const el of root.querySelectorAll("[data-text]")) el.textContent = text[el.dataset.text];
  const form = $("boot-form");
  const username = $("boot-username");
  const password = $("boot-password");
  const error = $("boot-error");
  const submit = $("boot-submit");
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (starting || signingIn) return;
    submit.disabled = true;
    submit.textContent = text.signing_in;
    error.hidden = true;
    signingIn = (async () => {
      try {
        const answer = await fetch("/api/v1/auth/login", {
          method: "POST",
          headers: { "Content-Type": "application/json", Accept: "application/json" },
          body: JSON.stringify({ username: username.value, password: password.value }),
        });
        const body = await answer.json().catch(() => ({}));
        if (answer.ok && body.token) {
          localStorage.setItem(TOKEN, body.token);
          root.remove();
          shell = null;
          $("boot").hidden = false;
          return;
        }
        error.textContent = body.message || `HTTP ${answer.status}`;
      } catch (e) {
        error.textContent = String(e);
      }
      error.hidden = false;
      submit.disabled = false;
      submit.textContent = text.sign_in;
    })().finally(() => {
      signingIn = null;
    });
  });
  $("boot").hidden = true;
  root.hidden = false;
  username.focus();
  return { root, username, password };
}

// Moves what was typed into the UI's own sign-in form once it is drawn.
function handOver(typed, frames = 30) {
  const fields = document.querySelectorAll(".login input");
  if (fields.length < 2) {
    if (frames > 0) requestAnimationFrame(() => handOver(typed, frames - 1));
    return;
  }
  const [username, password] = fields;
  for (const [el, value] of [[username, typed.username], [password, typed.password]]) {
    if (!value) continue;
    el.value = value;
    el.dispatchEvent(new Event("input", { bubbles: true }));
  }
  const focus = typed.focused === "password" ? password : typed.focused === "username" ? username : null;
  focus?.focus();
}

async function start() {
  // The bundle and its JavaScript come at once; the bundle is compiled as it arrives.
  const { js, wasm } = await import("/pkg/start.js");
  const compiled = WebAssembly.compileStreaming(fetch(wasm)).catch(() => wasm); // else init compiles it
  const { default: init } = await import(js);
  const module = await compiled;
  while (signingIn) await signingIn;
  starting = true;
  await init({ module_or_path: module });
  let typed = null;
  if (shell) {
    const active = document.activeElement;
    typed = {
      username: shell.username.value,
      password: shell.password.value,
      focused: active === shell.password ? "password" : active === shell.username ? "username" : null,
    };
    shell.root.remove();
  }
  $("boot")?.remove();
  $("boot-login")?.remove(); // never shown (a session was stored)
  if (typed) handOver(typed);
}

if (!storedToken()) shell = showSignIn();
start().catch((e) => {
  const p = document.createElement("p");
  p.className = "boot-error";
  p.append("The web UI could not start: " + String(e) + ". Was it built? ");
  const code = document.createElement("code");
  code.textContent = "bash scripts/build-ui.sh";
  p.append(code);
  document.body.replaceChildren(p);
});
