// Swagger UI at /api/docs in Chromium under its Content-Security-Policy: the page must
// render the API (title and operations) with no CSP violation and no console error, and
// the web UI's start page must load under its own, stricter policy.
//
// Run by backend/tests/api/browser_csp.rs, which starts the server and writes the JSON
// configuration named by TASKGATE_E2E_CONFIG ({"base_url": …, "artifacts_dir": …}).

import { assertNoConsoleErrors, field, launch, newPage, readConfig, screenshot, step } from './lib.mjs';

const cfg = readConfig();
process.env.ARTIFACTS_DIR ||= cfg.artifacts_dir;
const base = cfg.base_url.replace(/\/$/, '');

/** Reports every CSP violation as a console error, which the page records. */
function reportViolations() {
    document.addEventListener('securitypolicyviolation', (e) => {
        console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || 'inline'} (${e.sourceFile}:${e.lineNumber})`);
    });
}

async function main() {
    const browser = await launch();
    try {
        const page = await newPage(browser);
        await page.addInitScript(reportViolations);
        await step('Swagger UI renders under its CSP', async () => {
            const resp = await page.goto(`${base}/api/docs`);
            const csp = resp.headers()['content-security-policy'] || '';
            if (!csp.includes("'sha256-") || csp.includes("script-src 'unsafe-inline'")) {
                throw new Error(`unexpected Swagger UI policy: ${csp}`);
            }
            await page.locator('.swagger-ui .info .title').filter({ hasText: 'Taskgate' }).waitFor();
            await page.locator('.opblock').first().waitFor();
            // Open one operation: Swagger UI renders more (and styles it inline) on demand.
            await page.locator('.opblock-summary').first().click();
            await page.locator('.opblock-body').first().waitFor();
            await screenshot(page, 'api-docs');
        });
        await step('the web UI starts under its CSP', async () => {
            const resp = await page.goto(`${base}/`);
            const csp = resp.headers()['content-security-policy'] || '';
            if (!csp.includes("script-src 'self' 'wasm-unsafe-eval'")) {
                throw new Error(`unexpected SPA policy: ${csp}`);
            }
            await field(page, 'Username').waitFor();
            await screenshot(page, 'spa-login');
        });
        await step('no console errors or CSP violations', async () => assertNoConsoleErrors());
    } finally {
        await browser.close();
    }
}

main().then(
    () => console.log('API docs check passed'),
    (e) => {
        console.error(`API docs check failed: ${e.stack || e}`);
        process.exit(1);
    },
);
