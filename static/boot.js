// Starts the web UI. A file of its own, not an inline script: the page's
// Content-Security-Policy allows scripts from this server only.
import init from "/pkg/taskgate-ui.js";

init({ module_or_path: "/pkg/taskgate-ui_bg.wasm" }).catch((e) => {
  const p = document.createElement("p");
  p.className = "boot-error";
  p.append("The web UI could not start: " + String(e) + ". Was it built? ");
  const code = document.createElement("code");
  code.textContent = "bash scripts/build-ui.sh";
  p.append(code);
  document.body.replaceChildren(p);
});
