// Starts the web UI. A file of its own, not an inline script: the page's
// Content-Security-Policy allows scripts from this server only. /pkg/start.js (written by
// scripts/build-ui.sh) names this build's files.
import init, { wasm } from "/pkg/start.js";

init({ module_or_path: wasm })
  .then(() => document.getElementById("boot")?.remove())
  .catch((e) => {
    const p = document.createElement("p");
    p.className = "boot-error";
    p.append("The web UI could not start: " + String(e) + ". Was it built? ");
    const code = document.createElement("code");
    code.textContent = "bash scripts/build-ui.sh";
    p.append(code);
    document.body.replaceChildren(p);
  });
