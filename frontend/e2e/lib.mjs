// Helpers for driving the Taskgate UI in Debian's Chromium with playwright-core (no
// browser download): launch, pages that record console errors, screenshots, steps that
// leave a screenshot and the page's HTML behind when they fail.

import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.TASKGATE_CHROMIUM || '/usr/bin/chromium';

/** How long one wait for the UI may take before the test fails. */
export const TIMEOUT_MS = 20_000;

const pages = new Set();
const consoleErrors = [];

/** Where screenshots and failure dumps go (created on first use). */
export function artifactsDir() {
    const dir = process.env.ARTIFACTS_DIR || path.resolve('test-artifacts/ui');
    fs.mkdirSync(dir, { recursive: true });
    return dir;
}

/** The JSON file the Rust harness wrote (its path is in TASKGATE_E2E_CONFIG). */
export function readConfig() {
    const file = process.env.TASKGATE_E2E_CONFIG;
    if (!file) {
        throw new Error('TASKGATE_E2E_CONFIG is not set: run this through `cargo nextest run -p taskgate ui_workflow`');
    }
    return JSON.parse(fs.readFileSync(file, 'utf8'));
}

export async function launch() {
    if (!fs.existsSync(CHROMIUM)) {
        throw new Error(`${CHROMIUM} is missing: apt-get install chromium (scripts/test.sh does)`);
    }
    return chromium.launch({
        executablePath: CHROMIUM,
        args: [
            '--headless',
            '--no-sandbox',
            '--disable-gpu',
            '--disable-background-networking',
            '--disable-quic',
            '--no-first-run',
            '--disable-component-update',
            '--disable-sync',
        ],
    });
}

/**
 * A page in its own context (own storage, so its own login) with the given viewport and
 * browser language (English unless told: the UI follows the browser's languages).
 * Console errors and uncaught exceptions are recorded for `assertNoConsoleErrors`;
 * confirm() dialogs are accepted, as a person who clicked the button would.
 */
export async function newPage(browser, { width = 1280, height = 800, locale = 'en-US' } = {}) {
    const context = await browser.newContext({ viewport: { width, height }, locale });
    const page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT_MS);
    page.on('console', (m) => {
        // An API's 404, 409 or 422 is an answer the UI shows (a form error, "not found"; the
        // server checks what the browser cannot, such as an alias's pattern); Chromium still
        // logs the request. Any other failed load (an asset, a 5xx) is an error.
        const url = m.location()?.url || '';
        const shown = (/^Failed to load resource: the server responded with a status of (404|409|422) /.test(m.text())
            && url.includes('/api/v1/'))
            // A wrong password, which the sign-in form shows.
            || (/ status of 401 /.test(m.text()) && url.endsWith('/api/v1/auth/login'));
        if (m.type() === 'error' && !shown) {
            consoleErrors.push(`${page.url()}: console.error: ${m.text()}`);
        }
    });
    page.on('pageerror', (e) => consoleErrors.push(`${page.url()}: uncaught: ${e.stack || e}`));
    page.on('dialog', (d) => d.accept());
    page.on('close', () => pages.delete(page));
    pages.add(page);
    return page;
}

function fileName(name) {
    return name.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '');
}

/** A full-page PNG `<name>.png` in the artifacts directory; returns its path. */
export async function screenshot(page, name) {
    const file = path.join(artifactsDir(), `${fileName(name)}.png`);
    await page.screenshot({ path: file, fullPage: true });
    return file;
}

/** Throws, listing them, if any page logged a console error or threw. */
export function assertNoConsoleErrors() {
    if (consoleErrors.length > 0) {
        throw new Error(`console errors in the UI:\n  ${consoleErrors.join('\n  ')}`);
    }
}

/** Runs one named step; on failure saves failure-<name>.png/.html of every open page. */
export async function step(name, fn) {
    const started = Date.now();
    console.log(`--> ${name}`);
    try {
        const result = await fn();
        console.log(`    ok (${((Date.now() - started) / 1000).toFixed(1)} s)`);
        return result;
    } catch (e) {
        console.log(`    FAILED: ${name}`);
        let i = 0;
        for (const page of pages) {
            const base = `failure-${fileName(name)}${pages.size > 1 ? `-${i++}` : ''}`;
            try {
                await page.screenshot({ path: path.join(artifactsDir(), `${base}.png`), fullPage: true });
                fs.writeFileSync(path.join(artifactsDir(), `${base}.html`), `<!-- ${page.url()} -->\n${await page.content()}`);
                console.log(`    saved ${path.join(artifactsDir(), base)}.{png,html} (${page.url()})`);
            } catch (dumpError) {
                console.log(`    could not save ${base}: ${dumpError.message}`);
            }
        }
        throw e;
    }
}

/**
 * A form control by its label text, exactly ("Name" is not "Username"), with or without
 * a required-marker "*". Playwright's text of `<label>Role<select>…</select></label>`
 * includes the selected option ("Roleviewer"), so a control inside its label is also
 * found by the label's own leading text.
 */
export function field(scope, label) {
    const escaped = label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const byLabel = scope.getByLabel(new RegExp(`^\\s*${escaped}\\s*\\*?\\s*$`));
    const literal = label.includes('"') ? `'${label}'` : `"${label}"`;
    const own = `normalize-space(translate(text()[1], "*", ""))=${literal}`;
    const wrapped = scope.locator(`xpath=.//label[${own}]//*[self::input or self::select or self::textarea]`);
    return byLabel.or(wrapped);
}

/** A button by its exact accessible name. */
export function button(scope, name) {
    return scope.getByRole('button', { name, exact: true });
}

export function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Polls `probe` (async, returns a value) until `ok(value)` holds; throws naming `what`
 * and the last value seen when `timeout` runs out.
 */
export async function waitUntil(what, probe, ok = Boolean, timeout = TIMEOUT_MS) {
    const deadline = Date.now() + timeout;
    let last;
    for (;;) {
        try {
            last = await probe();
            if (ok(last)) return last;
        } catch (e) {
            last = `error: ${e.message.split('\n')[0]}`;
        }
        if (Date.now() > deadline) {
            throw new Error(`timed out after ${timeout / 1000} s waiting for ${what}; last seen: ${JSON.stringify(last)}`);
        }
        await sleep(150);
    }
}

/** Waits until the locator's text (trimmed) equals `text`. */
export async function waitForText(locator, text, timeout = TIMEOUT_MS) {
    return waitUntil(`${locator} to read ${JSON.stringify(text)}`, async () => (await locator.innerText({ timeout: 1000 })).trim(), (t) => t === text, timeout);
}

/** Waits until the locator's attribute `name` equals `value`. */
export async function waitForAttribute(locator, name, value, timeout = TIMEOUT_MS) {
    return waitUntil(`${locator} to have ${name}=${JSON.stringify(value)}`, () => locator.getAttribute(name, { timeout: 1000 }), (v) => v === value, timeout);
}

/** Waits for the page to finish loading; an open event stream may keep it from idling. */
export async function settle(page) {
    await page.waitForLoadState('load');
    await Promise.race([page.waitForLoadState('networkidle').catch(() => {}), sleep(3000)]);
}

/**
 * Signs in on /login and waits for the signed-in layout; `labels` names the form's fields
 * and button in the page's language.
 */
export async function login(page, base, user, pass, labels = { username: 'Username', password: 'Password', signIn: 'Sign in' }) {
    await page.goto(`${base}/login`);
    await field(page, labels.username).fill(user);
    await field(page, labels.password).fill(pass);
    await button(page, labels.signIn).click();
    const whoami = page.getByTestId('whoami');
    await waitUntil(`whoami to show ${user}`, async () => (await whoami.innerText({ timeout: 1000 })).trim(), (t) => t.includes(user));
    await waitUntil('leaving /login', async () => new URL(page.url()).pathname, (p) => p !== '/login');
}

/** Signs out and waits for the sign-in form (shown in place or on /login). */
export async function signOut(page) {
    await button(page, 'Sign out').click();
    await button(page, 'Sign in').waitFor();
}
