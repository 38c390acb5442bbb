// One cold load of the web UI in headless Chromium on a throttled link (CDP network
// emulation), then a sign-in: when a sign-in form could first be used, when the UI had
// started, when the signed-in UI showed, and the bytes sent over the wire.
//
// node load.mjs BASE PASSWORD MODE KBITS LATENCY_MS
//   MODE "early": the page as served (index.html's own sign-in form, shown at once).
//   MODE "app-only": the same page with boot.js's early form turned off, so that only the
//   UI's own form (drawn once the bundle has started) signs in: the page before it had one.

import { chromium } from '../../frontend/e2e/node_modules/playwright-core/index.mjs';

const [base, password, mode, kbits, latency] = process.argv.slice(2);
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu'] });
try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
    const bytesPerSec = (Number(kbits) * 1000) / 8;
    await cdp.send('Network.emulateNetworkConditions', {
        offline: false, latency: Number(latency), downloadThroughput: bytesPerSec, uploadThroughput: bytesPerSec,
    });
    let wire = 0;
    const sizes = {};
    const urls = {};
    cdp.on('Network.requestWillBeSent', (e) => { urls[e.requestId] = e.request.url; });
    cdp.on('Network.loadingFinished', (e) => {
        wire += e.encodedDataLength;
        const name = (urls[e.requestId] || '?').replace(base, '').replace(/\/pkg\/[0-9a-f]+\//, '/pkg/HASH/');
        sizes[name] = (sizes[name] || 0) + e.encodedDataLength;
    });
    if (mode === 'app-only') {
        await page.route('**/boot.js', async (route) => {
            const resp = await route.fetch();
            const body = (await resp.text()).replace('if (!storedToken()) shell = showSignIn();', '');
            await route.fulfill({ response: resp, body });
        });
    }
    // Each frame: when a sign-in form is first usable (a visible password field), when the
    // UI has started (boot.js removed its placeholder), when the signed-in UI shows.
    await page.addInitScript(() => {
        window.__t = {};
        const look = () => {
            const now = performance.now();
            const pw = document.querySelector('input[type=password]');
            if (!window.__t.form && pw && pw.offsetParent !== null && !pw.disabled) window.__t.form = now;
            if (!window.__t.started && document.readyState !== 'loading' && !document.getElementById('boot')) window.__t.started = now;
            if (!window.__t.signedIn && document.querySelector('[data-testid="whoami"]')) window.__t.signedIn = now;
            if (!window.__t.signedIn) requestAnimationFrame(look);
        };
        requestAnimationFrame(look);
    });
    await page.goto(`${base}/`, { waitUntil: 'commit' });
    const pw = page.locator('input[type=password]');
    await pw.waitFor({ state: 'visible', timeout: 120_000 });
    const user = page.locator('input[autocomplete=username], .login input[type=text]').first();
    await user.fill('admin');
    await pw.fill(password);
    await page.locator('button[type=submit]').first().click();
    await page.waitForFunction(() => window.__t.signedIn, null, { timeout: 120_000, polling: 50 });
    const t = await page.evaluate(() => window.__t);
    const nav = await page.evaluate(() => performance.getEntriesByType('navigation')[0]?.startTime ?? 0);
    console.log(JSON.stringify({ mode, form_ms: t.form - nav, started_ms: t.started - nav, signed_in_ms: t.signedIn - nav, wire, sizes }));
} finally {
    await browser.close();
}
