// bench/accept: CLIENTS concurrent clients, each posting requests one after another
// over a kept-alive connection for SECONDS; prints one JSON line with the rate and the
// latency percentiles. Usage: node accept.mjs URL TOKEN BODY_JSON CLIENTS SECONDS [PATH [METHOD]]
import http from "node:http";

const [base, token, body, clients, seconds, path = "/api/v1/tasks", method = "POST"] = process.argv.slice(2);
const url = new URL(path, base);
const agent = new http.Agent({ keepAlive: true, maxSockets: Number(clients) });
const payload = Buffer.from(body);
const latencies = [];
const failures = {};
let ids = 0;
const end = performance.now() + Number(seconds) * 1000;

function post() {
  return new Promise((resolve) => {
    const start = performance.now();
    const req = http.request(
      url,
      {
        method,
        agent,
        headers:
          method === "GET"
            ? { authorization: `Bearer ${token}` }
            : { "content-type": "application/json", "content-length": payload.length, authorization: `Bearer ${token}` },
      },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => {
          const took = performance.now() - start;
          if (res.statusCode === 200 || res.statusCode === 201) {
            latencies.push(took);
            ids += 1;
          } else {
            const key = `${res.statusCode} ${Buffer.concat(chunks).toString().slice(0, 200)}`;
            failures[key] = (failures[key] || 0) + 1;
          }
          resolve();
        });
      },
    );
    req.on("error", (e) => {
      failures[e.code || String(e)] = (failures[e.code || String(e)] || 0) + 1;
      resolve();
    });
    req.end(method === "GET" ? undefined : payload);
  });
}

async function client() {
  while (performance.now() < end) await post();
}

const t0 = performance.now();
await Promise.all(Array.from({ length: Number(clients) }, client));
const wall = (performance.now() - t0) / 1000;
latencies.sort((a, b) => a - b);
const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN;
console.log(
  JSON.stringify({ accepted: ids, seconds: wall, per_s: ids / wall, p50: pct(50), p99: pct(99), max: latencies.at(-1) ?? NaN, failures }),
);
agent.destroy();
