// bench/ui: watches one run in headless Chromium and prints JSON figures. Run by ui.py.
// argv: base token task mode(page|stream) hosts
// page:   the Taskgate task page; the run is released with its "Release step 1 on all hosts".
// stream: the floor: a bare page that only receives the same event stream (same filter,
//         batched as the page asks for it) and parses each message; ui.py releases the run.
import { chromium } from '../../frontend/e2e/node_modules/playwright-core/index.mjs';

const [base, token, task, mode, hosts] = process.argv.slice(2);

// The time since navigation at which the page showed what was awaited, and the long tasks
// (over 50 ms) until then and in the half second after it (what the page still did to
// finish drawing).
async function settled(page) {
    const at = await page.evaluate(() => performance.now());
    await page.waitForTimeout(500);
    const long = (await page.evaluate(() => window.__long)).map(([, d]) => d);
    return { ms: at, long_tasks: long.length, longest_ms: Math.max(0, ...long) };
}
let opened = null;
let reopened = null;
const browser = await chromium.launch({
    executablePath: process.env.TASKGATE_CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
});
try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await context.addInitScript(() => {
        window.__long = [];
        new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__long.push([e.startTime, e.duration]); })
            .observe({ type: 'longtask', buffered: true });
    });
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('Performance.enable');
    if (mode === 'page') {
        await page.goto(`${base}/login`);
        await page.evaluate((t) => localStorage.setItem('taskgate.token', t), token);
        if (process.env.WATCH_TRACE_OPEN) {
            // A Chromium trace of opening the page: each main-thread task with what it did
            // (script, style, layout, paint), for bench/ui/trace.py.
            await browser.startTracing(page, {
                path: process.env.WATCH_TRACE_OPEN,
                categories: ['devtools.timeline', 'disabled-by-default-devtools.timeline', 'toplevel', 'v8.execute', 'blink.user_timing'],
            });
        }
        if (process.env.WATCH_PROFILE_OPEN) {
            // The profile of opening the page (bench/ui/profile.py reads it), not of the run.
            await cdp.send('Profiler.enable');
            await cdp.send('Profiler.setSamplingInterval', { interval: 250 });
            await cdp.send('Profiler.start');
        }
        await page.goto(`${base}/tasks/${task}`);
        // Found by a CSS selector: a role query works out every button's accessible name in
        // the page's own thread, and its polling showed up among the page's long tasks.
        const release = page.locator('[data-testid="waiting-0"] button.primary');
        await release.waitFor({ timeout: 120_000 });
        // Opening the page: from navigation to its Release button on screen, and the long
        // tasks until then (the run of 3N pairs read and parsed, the grid drawn).
        opened = await settled(page);
        if (process.env.WATCH_TRACE_OPEN) await browser.stopTracing();
        const label = (await release.textContent()).trim();
        if (label !== 'Release step 1 on all hosts') throw new Error(`the release button says ${JSON.stringify(label)}`);
        if (process.env.WATCH_PROFILE_OPEN) {
            const { profile } = await cdp.send('Profiler.stop');
            // No time origin to align the samples with the long tasks (the profile began
            // before the navigation): profile.py counts every sample of the opening.
            const spans = await page.evaluate(() => window.__long);
            (await import('node:fs')).writeFileSync(process.env.WATCH_PROFILE_OPEN, JSON.stringify({ profile, spans, t0: null }));
        }
        await page.evaluate(() => {
            window.__long = [];
            const badge = () => document.querySelector('[data-testid="task-status"]');
            new MutationObserver(() => {
                const b = badge();
                if (!window.__shown && b && /st-(success|failed)/.test(b.className)) window.__shown = Date.now();
            }).observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
        });
        if (process.env.WATCH_PROFILE) {
            await cdp.send('Profiler.enable');
            await cdp.send('Profiler.setSamplingInterval', { interval: 250 });
            await cdp.send('Profiler.start');
            await page.evaluate(() => { window.__t0 = performance.now(); });
        }
        await page.evaluate(() => { window.__released = performance.now(); });
        await release.click();
    } else {
        // A page of this server under the web UI's policy (the API's allows no connections).
        await page.goto(`${base}/style.css`);
        await page.evaluate(async ({ task, token }) => {
            window.__long = [];
            window.__events = 0;
            const path = `/api/v1/tasks/${task}/events`;
            const answer = await fetch('/api/v1/auth/tickets', {
                method: 'POST',
                headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
                body: JSON.stringify({ path }),
            });
            const { ticket } = await answer.json();
            const s = new EventSource(`${path}?log_step=0&log_host=h0000&batch=true&ticket=${encodeURIComponent(ticket)}`);
            window.__at = [];
            const on = (m) => {
                window.__at.push(performance.now());
                const d = JSON.parse(m.data);
                window.__events += d.events ? d.events.length : 1;
                if (d.kind === 'task' && (d.status === 'success' || d.status === 'failed')) { window.__shown = Date.now(); s.close(); }
            };
            for (const k of ['logs', 'pairs', 'task']) s.addEventListener(k, on);
        }, { task, token });
        console.log(JSON.stringify({ ready: true }));
    }
    try {
        await page.waitForFunction(() => window.__shown, null, { timeout: Number(process.env.WATCH_TIMEOUT_MS || 900_000), polling: 100 });
    } catch (e) {
        // Leave what the page showed behind, for whoever reads the failure.
        const dir = process.env.WATCH_ARTIFACTS || '/tmp';
        await page.screenshot({ path: `${dir}/bench-ui-${mode}-${hosts}.png` });
        (await import('node:fs')).writeFileSync(`${dir}/bench-ui-${mode}-${hosts}.html`, await page.content());
        throw e;
    }
    const spans = await page.evaluate(() => window.__long);
    if (process.env.WATCH_PROFILE && mode === 'page') {
        // The sampled profile and the long tasks (ms since navigation), for a look at what
        // the page did in them (bench/ui/profile.py).
        const { profile } = await cdp.send('Profiler.stop');
        const t0 = await page.evaluate(() => window.__t0);
        (await import('node:fs')).writeFileSync(process.env.WATCH_PROFILE, JSON.stringify({ profile, spans, t0 }));
    }
    if (process.env.WATCH_VERBOSE) {
        // Each long task with the messages the bare page received during it.
        const at = mode === 'stream' ? await page.evaluate(() => window.__at) : [];
        // [start ms after the release (page) or since navigation (stream), duration, messages in it]
        const t0 = mode === 'page' ? await page.evaluate(() => window.__released) : 0;
        console.error(JSON.stringify(spans.map(([s, d]) => [Math.round(s - t0), Math.round(d), at.filter((t) => t >= s && t <= s + d).length])));
        if (mode === 'page') console.error(`shown ${await page.evaluate(() => window.__shown - (performance.timeOrigin + window.__released))} ms after the release`);
        if (mode === 'stream') console.error(`messages: ${at.length}, events: ${await page.evaluate(() => window.__events)}`);
    }
    if (mode === 'page') {
        // Opening the page of the finished run, as someone looking back at it does: the
        // run read and parsed, the grid drawn with every pair final.
        const again = await context.newPage();
        await again.goto(`${base}/tasks/${task}`);
        await again.locator('[data-testid="task-status"].st-success, [data-testid="task-status"].st-failed').waitFor({ timeout: 120_000 });
        await again.locator('[data-testid^="cell-"]').first().waitFor({ timeout: 120_000 });
        reopened = await settled(again);
        await again.close();
    }
    const long = spans.map(([, d]) => d);
    const metrics = Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value]));
    console.log(JSON.stringify({
        shown_at_ms: await page.evaluate(() => window.__shown),
        long_tasks: long.length,
        longest_ms: Math.max(0, ...long),
        blocked_ms: long.reduce((s, d) => s + Math.max(0, d - 50), 0),
        heap_mb: metrics.JSHeapUsedSize / 1048576,
        nodes: metrics.Nodes,
        opened,
        reopened,
    }));
} finally {
    await browser.close();
}
