// The task list and the audit log as a user pages, searches and filters them: the pager
// reaches older tasks, a search asks the server at once (no reload), and the audit log
// shows entries with its filters left empty.
//
// Run by backend/tests/api/ui_lists.rs, which starts the server, submits the tasks and
// writes the JSON configuration named by TASKGATE_E2E_CONFIG
// ({"base_url", "artifacts_dir", "admin_password", "tasks", "needle"}).

import { assertNoConsoleErrors, button, field, launch, login, newPage, readConfig, screenshot, step, waitUntil } from './lib.mjs';

const cfg = readConfig();
process.env.ARTIFACTS_DIR ||= cfg.artifacts_dir;
const base = cfg.base_url.replace(/\/$/, '');

/** The ids of the task rows shown. */
async function rows(page) {
    return page.locator('tr[data-testid^="task-"]').evaluateAll((trs) => trs.map((tr) => tr.dataset.testid));
}

async function main() {
    const browser = await launch();
    try {
        await step('one signs in before the bundle has arrived; what was typed is kept', async () => {
            // The bundle is held back (a slow link): index.html's own form is there already.
            const hold = async (p) => {
                let release;
                const held = new Promise((r) => { release = r; });
                await p.route('**/*.wasm', async (route) => { await held; await route.continue(); });
                return release;
            };
            const early = await newPage(browser);
            let release = await hold(early);
            await early.goto(`${base}/`);
            await field(early, 'Username').fill('admin');
            await field(early, 'Password').fill('not-the-password');
            await button(early, 'Sign in').click();
            await early.locator('#boot-error').filter({ hasText: /\S/ }).waitFor();
            await field(early, 'Password').fill(cfg.admin_password);
            await button(early, 'Sign in').click();
            await waitUntil('the session kept', () => early.evaluate(() => localStorage.getItem('taskgate.token')), (t) => !!t);
            if (await early.locator('.dashboard, [data-testid="whoami"]').count()) throw new Error('the UI started while its bundle was held');
            await screenshot(early, 'early-sign-in');
            release();
            await waitUntil('signed in once the UI starts', async () => (await early.getByTestId('whoami').innerText({ timeout: 1000 })).trim(),
                (t) => t.includes('admin'));
            await early.close();

            // Typed but not sent: moved into the UI's own form, the focus where it was.
            const typed = await newPage(browser);
            release = await hold(typed);
            await typed.goto(`${base}/tasks`);
            await field(typed, 'Username').fill('someone');
            await field(typed, 'Password').focus();
            release();
            await waitUntil('the early form gone', () => typed.locator('#boot-login').count(), (n) => n === 0);
            await waitUntil('the name moved into the UI', () => field(typed, 'Username').inputValue(), (v) => v === 'someone');
            const focused = await typed.evaluate(() => document.activeElement?.type);
            if (focused !== 'password') throw new Error(`the focus is on ${focused}, not the password`);
            await typed.close();

            // A stored session that ran out (the usual case the next morning) gets the form
            // at once too, not after the bundle.
            const stale = await newPage(browser);
            release = await hold(stale);
            const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
            const expired = `${b64({ alg: 'HS256' })}.${b64({ sub: '1', exp: Math.floor(Date.now() / 1000) - 60 })}.sig`;
            await stale.addInitScript((t) => { if (!sessionStorage.getItem('seeded')) { sessionStorage.setItem('seeded', '1'); localStorage.setItem('taskgate.token', t); } }, expired);
            await stale.goto(`${base}/`);
            await field(stale, 'Username').waitFor();
            const kept = await stale.evaluate(() => localStorage.getItem('taskgate.token'));
            if (kept) throw new Error('the expired session was kept');
            release();
            await stale.close();
        });

        await step('a cold load fetches the dashboard\'s part only; a page whose part cannot be fetched says so', async () => {
            // Not newPage: the failed fetches below are the point, not console errors to report.
            const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
            const cold = await context.newPage();
            cold.setDefaultTimeout(20_000);
            const fetched = [];
            cold.on('request', (r) => fetched.push(new URL(r.url()).pathname));
            let blocked = true;
            await cold.route(/\/pkg\/[0-9a-f]+\/(split|chunk)_[^/]*\.wasm$/, (route) => (blocked ? route.abort() : route.continue()));
            await login(cold, base, 'admin', cfg.admin_password);
            await cold.getByRole('heading', { name: 'Dashboard' }).waitFor();
            const parts = fetched.filter((p) => /\/(split|chunk)_/.test(p));
            if (parts.length) throw new Error(`the dashboard fetched page parts: ${parts.join(', ')}`);
            if (!fetched.some((p) => p.endsWith('_bg.wasm'))) throw new Error(`no main bundle among ${fetched.join(', ')}`);

            await cold.getByRole('link', { name: 'Tasks', exact: true }).click();
            await cold.getByTestId('load-failed').waitFor();
            await cold.getByRole('heading', { name: 'This page could not be loaded' }).waitFor();
            // The rest of the UI goes on: the dashboard (in the main part) still works.
            await cold.getByRole('link', { name: 'Dashboard', exact: true }).click();
            await cold.getByRole('heading', { name: 'Dashboard' }).waitFor();
            // With the network back, opening the page again fetches its part.
            blocked = false;
            await cold.getByRole('link', { name: 'Tasks', exact: true }).click();
            await waitUntil('the task list once its part arrives', async () => (await rows(cold)).length, (n) => n === 20);
            if (await cold.getByTestId('page-loading').isVisible()) throw new Error('the loading bar stayed after the part came');
            // Another part (the users page's) held back, then the page's Reload button.
            blocked = true;
            await cold.getByRole('link', { name: 'Users', exact: true }).click();
            await cold.getByTestId('load-failed').waitFor();
            await screenshot(cold, 'page-part-not-fetched');
            blocked = false;
            await button(cold, 'Reload').click();
            await cold.getByRole('heading', { name: 'Users', exact: true }).waitFor();
            if (new URL(cold.url()).pathname !== '/users') throw new Error(`reloaded at ${cold.url()}`);

            // A part whose download stalls (no answer at all) is given up on after 30 s,
            // rather than leaving the previous page under the new address for good.
            // Meanwhile a bar says that a page is on its way; it goes when the wait ends.
            await cold.route(/\/split_library_pages\.wasm$/, () => {});
            await cold.getByRole('link', { name: 'Templates', exact: true }).click();
            await cold.getByTestId('page-loading').waitFor();
            await cold.getByTestId('load-failed').waitFor({ timeout: 45_000 });
            await cold.getByTestId('page-loading').waitFor({ state: 'hidden' });
            if (new URL(cold.url()).pathname !== '/templates') throw new Error(`the stalled page is at ${cold.url()}`);
            await context.close();
        });

        const page = await newPage(browser);
        await login(page, base, 'admin', cfg.admin_password);
        await step('the pager reaches the second page of tasks', async () => {
            await page.goto(`${base}/tasks`);
            await waitUntil('a full first page', async () => (await rows(page)).length, (n) => n === 20);
            const first = await rows(page);
            const pages = Math.ceil(cfg.tasks / 20);
            await page.getByText(`Page 1 of ${pages} (${cfg.tasks} in all)`).waitFor();
            const next = button(page, 'Next');
            if (await next.isDisabled()) throw new Error('Next is disabled on page 1 of several');
            await next.click();
            await page.getByText(`Page 2 of ${pages}`).waitFor();
            await waitUntil('other tasks on page 2', async () => rows(page), (r) => r.length > 0 && !r.some((id) => first.includes(id)));
            await screenshot(page, 'tasks-page-2');
        });
        await step('a search asks the server at once', async () => {
            await page.goto(`${base}/tasks`);
            await waitUntil('the first page', async () => (await rows(page)).length, (n) => n === 20);
            const asked = page.waitForRequest((r) => r.url().includes('/api/v1/tasks?') && r.url().includes(encodeURIComponent(cfg.needle)));
            await field(page, 'Search').fill(cfg.needle);
            await button(page, 'Search').click();
            await asked;
            await waitUntil('only the task searched for', async () => rows(page), (r) => r.length === 1);
            await page.getByText(cfg.needle).first().waitFor();
            await screenshot(page, 'tasks-search');
        });
        await step('the audit log shows entries with no filter', async () => {
            await page.goto(`${base}/audit`);
            await waitUntil('audit rows', async () => page.locator('table tbody tr').count(), (n) => n > 0);
            await field(page, 'Action').fill('task.submit');
            await button(page, 'Filter').click();
            await waitUntil('only submissions', async () => page.locator('table tbody tr td:nth-child(3) code').allInnerTexts(),
                (t) => t.length > 0 && t.every((a) => a === 'task.submit'));
            await screenshot(page, 'audit');
        });
        await step('a finished log opens at its end; scrolling up stops following', async () => {
            await page.goto(`${base}/tasks/${cfg.finished_task}`);
            await page.getByTestId('cell-0-local').click();
            const pane = page.getByTestId('log-pane');
            await pane.locator('.log-line', { hasText: 'line 2500' }).waitFor();
            await waitUntil('the pane at its end', async () => pane.evaluate((el) => el.scrollHeight - el.clientHeight - el.scrollTop), (gap) => gap <= 8);
            await page.getByTestId('log-earlier').waitFor();
            await pane.evaluate((el) => { el.scrollTop = 0; });
            await waitUntil('follow turned off', async () => page.getByTestId('log-follow').isChecked(), (on) => !on);
            // The start of the log is paged in by scrolling up (1,000 lines a page); each
            // line shows its number.
            await waitUntil('the first line paged in', async () => {
                await pane.evaluate((el) => { el.scrollTop = 0; el.dispatchEvent(new Event('scroll')); });
                return pane.locator('.log-line .tx', { hasText: /^line 1$/ }).count();
            }, (n) => n === 1, 30_000);
            const numbers = await pane.locator('.log-line .ln').allInnerTexts();
            if (numbers.length < 2500 || numbers[0] !== '1') throw new Error(`lines shown: ${numbers.length}, first number ${numbers[0]}`);
            await page.getByTestId('log-earlier').waitFor({ state: 'detached' });
            await screenshot(page, 'log-finished');
        });
        await step('a live log follows its output', async () => {
            await page.goto(`${base}/tasks`);
            const resp = await page.evaluate(async ({ tpl }) => {
                const token = localStorage.getItem('taskgate.token');
                const r = await fetch('/api/v1/tasks', { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
                    body: JSON.stringify({ template_id: tpl, schedule: 'ready' }) });
                return r.json();
            }, { tpl: cfg.slow_template });
            await page.goto(`${base}/tasks/${resp.id}`);
            await page.getByTestId('cell-0-local').click();
            const pane = page.getByTestId('log-pane');
            await pane.locator('.log-line', { hasText: 'drip 60' }).waitFor({ timeout: 30_000 });
            await pane.locator('.log-line', { hasText: 'drip 100' }).waitFor({ timeout: 30_000 });
            const gap = await pane.evaluate((el) => el.scrollHeight - el.clientHeight - el.scrollTop);
            if (gap > 40) throw new Error(`the live log is ${gap} px above its end`);
            await screenshot(page, 'log-live');
        });
        // Submits (or acts on) a task as someone else would: from outside the page's code.
        const api = (path, body) => page.evaluate(async ({ path, body }) => {
            const token = localStorage.getItem('taskgate.token');
            const r = await fetch(`/api/v1${path}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
                body: JSON.stringify(body) });
            return r.json();
        }, { path, body });
        await step('the dashboard and the task list update when a task is submitted elsewhere', async () => {
            await page.goto(`${base}/`);
            const count = page.getByTestId('count-success');
            await count.waitFor();
            const before = Number(await count.locator('.n').innerText());
            const submitted = await api('/tasks', { template_id: cfg.finished_template, schedule: 'ready' });
            await page.getByTestId(`task-${submitted.id}`).waitFor({ timeout: 30_000 });
            await waitUntil('the success counter to grow', async () => Number(await count.locator('.n').innerText()), (n) => n === before + 1, 30_000);
            await screenshot(page, 'dashboard-live');
            await page.goto(`${base}/tasks`);
            await waitUntil('the first page', async () => (await rows(page)).length, (n) => n > 0);
            const another = await api('/tasks', { template_id: cfg.finished_template, schedule: 'ready' });
            await page.getByTestId(`task-${another.id}`).waitFor({ timeout: 30_000 });
        });
        await step('a finished task page notices a redo started elsewhere', async () => {
            await page.goto(`${base}/tasks/${cfg.finished_task}`);
            await page.getByText('Log of step 1 on local, attempt 1').waitFor();
            await api(`/tasks/${cfg.finished_task}/redo`, { mode: 'all' });
            await page.getByText('Log of step 1 on local, attempt 2').waitFor({ timeout: 30_000 });
            await page.getByTestId('log-pane').locator('.log-line', { hasText: 'line 2500' }).waitFor({ timeout: 30_000 });
            await waitUntil('success again', async () => page.getByTestId('task-status').innerText(), (t) => t.trim() === 'success', 30_000);
        });
        await step('the task list filters by template, by submitter and to my tasks', async () => {
            await page.goto(`${base}/tasks`);
            await waitUntil('the first page', async () => (await rows(page)).length, (n) => n === 20);
            await page.getByTestId('filter-template').selectOption({ label: 'chatty' });
            const templatesShown = () => page.locator('tr[data-testid^="task-"] td:nth-child(3)').allInnerTexts();
            await waitUntil('only chatty tasks', templatesShown, (t) => t.length > 0 && t.every((n) => n === 'chatty'));
            if (!page.url().includes(`template=${cfg.finished_template}`)) throw new Error(`the filter is not in the address: ${page.url()}`);
            await page.getByTestId('filter-template').selectOption('');
            await page.getByTestId('filter-mine').check();
            const submitters = () => page.locator('tr[data-testid^="task-"] td:nth-child(5)').allInnerTexts();
            await waitUntil('only my tasks', submitters, (t) => t.length === 20 && t.every((n) => n === 'admin'));
            await page.getByTestId('filter-submitter').fill('plain');
            await button(page, 'Search').click();
            await waitUntil('nobody else\'s tasks', async () => (await rows(page)).length, (n) => n === 0);
            await page.getByText('No tasks.', { exact: true }).waitFor();
        });
        await step('a list searches, sorts and pages', async () => {
            // 61 hosts (web-00 … web-59 and db-1): 50 a page, sorted by name.
            for (let i = 0; i < 60; i++) await api('/hosts', { name: `web-${String(i).padStart(2, '0')}`, address: `10.1.0.${i + 1}` });
            await api('/hosts', { name: 'db-1', address: '10.1.1.1' });
            await page.goto(`${base}/hosts`);
            const hostRows = () => page.locator('tr[data-testid^="row-"]').evaluateAll((trs) => trs.map((tr) => tr.dataset.testid));
            await waitUntil('50 hosts on page 1', hostRows, (r) => r.length === 50);
            if ((await hostRows())[0] !== 'row-db-1') throw new Error(`first row is ${(await hostRows())[0]}, not db-1`);
            await button(page, 'Next').click();
            await waitUntil('11 hosts on page 2', hostRows, (r) => r.length === 11 && r[10] === 'row-web-59');
            await page.getByTestId('list-sort').click();
            await waitUntil('z to a', hostRows, (r) => r.length === 50 && r[0] === 'row-web-59');
            await page.getByTestId('list-search').fill('db');
            await waitUntil('one match', hostRows, (r) => r.length === 1 && r[0] === 'row-db-1');
            await page.getByTestId('list-search').fill('no-such-host');
            await page.getByTestId('list-no-match').waitFor();
            await screenshot(page, 'hosts-search');
        });
        await step('submit again starts from the task and makes a new one', async () => {
            await page.goto(`${base}/tasks/${cfg.needle_task}`);
            await page.getByTestId('submit-again').click();
            await waitUntil('the name filled in', () => field(page, 'Task name').inputValue(), (v) => v === cfg.needle);
            await waitUntil('the argument filled in', () => page.locator('input').evaluateAll((els) => els.map((e) => e.value)),
                (vals) => vals.includes('release-1.2'));
            await waitUntil('the hosts filled in', () => page.locator('textarea, input').evaluateAll((els) => els.map((e) => e.value)),
                (vals) => vals.includes('10.0.0.1') && vals.includes('10.0.0.2'));
            await button(page, 'Submit task').click();
            await waitUntil('a new task page', async () => new URL(page.url()).pathname, (p) => /^\/tasks\/\d+$/.test(p) && p !== `/tasks/${cfg.needle_task}`);
            await screenshot(page, 'submitted-again');
        });
        await step('a template is copied', async () => {
            await page.goto(`${base}/templates`);
            await page.getByTestId('row-chatty').getByTestId('copy-template').click();
            await waitUntil('the copy named', () => field(page, 'Name').inputValue(), (v) => v === 'chatty (copy)');
            await button(page, 'Save template').click();
            await waitUntil('leaving the new template form', async () => new URL(page.url()).pathname, (p) => p !== '/templates/new');
            await page.goto(`${base}/templates`);
            await page.getByTestId('row-chatty (copy)').waitFor();
        });
        await step('the submit form shows every error at once and clears each when fixed', async () => {
            await page.goto(`${base}/tasks/new?template=${cfg.release_template}`);
            await page.getByTestId('hosts-1').waitFor();
            await button(page, 'Submit task').click();
            const errorsShown = () => page.locator('.field-error').allInnerTexts();
            await waitUntil('three errors (TAG and both host groups)', errorsShown, (e) => e.length === 3);
            await page.getByTestId('hosts-1').fill('web-00, nohost-x');
            await waitUntil('the group 1 error gone, the others kept', errorsShown, (e) => e.length === 2);
            await page.getByTestId('unregistered-1').getByText('nohost-x').waitFor();
            const warning = await page.getByTestId('unregistered-1').innerText();
            if (warning.includes('web-00')) throw new Error(`a registered host is called unregistered: ${warning}`);
        });
        await step('needs approval is locked on for a template that always needs it', async () => {
            const strict = await api('/templates', { name: 'strict', require_approval: true,
                steps: [{ name: 'one', group: 'local', script: 'true' }] });
            await page.goto(`${base}/tasks/new?template=${strict.id}`);
            const box = field(page, 'Needs approval');
            await waitUntil('checked and locked', async () => [await box.isChecked(), await box.isDisabled()], ([c, d]) => c && d);
        });
        await step('a host takes the whole ssh-keygen -lf line as its fingerprint', async () => {
            const fp = `SHA256:${'Ab1+'.repeat(10)}Ab1`;
            await page.goto(`${base}/hosts`);
            await field(page, 'Name').fill('keyed-1');
            await field(page, 'Address').fill('10.2.0.1');
            await field(page, 'Host key fingerprint').fill(`256 ${fp} root@keyed-1 (ED25519)`);
            await button(page, 'Create').click();
            await page.getByTestId('list-search').fill('keyed-1');
            await page.getByTestId('row-keyed-1').getByText(fp).waitFor();
        });
        await step('a host is changed in a dialog over the list; Escape closes it', async () => {
            const row = page.getByTestId('row-keyed-1');
            const dialog = page.getByTestId('edit-dialog');
            await row.getByRole('button', { name: 'Edit' }).click();
            await dialog.getByText('Edit host keyed-1').waitFor();
            await waitUntil('the focus in the dialog', () => page.evaluate(() => !!document.activeElement?.closest('.dialog')), (v) => v);
            await screenshot(page, 'edit-dialog');
            await field(dialog, 'Address').fill('10.2.0.2');
            await button(dialog, 'Save').click();
            await waitUntil('the dialog closed', () => dialog.count(), (n) => n === 0);
            await row.getByText('10.2.0.2').waitFor();
            await row.getByRole('button', { name: 'Edit' }).click();
            await dialog.waitFor();
            await page.keyboard.press('Escape');
            await waitUntil('the dialog closed by Escape', () => dialog.count(), (n) => n === 0);
        });
        await step('templates and tokens are searched and sorted by name', async () => {
            for (const name of ['zeta-tpl', 'alpha-tpl']) {
                await api('/templates', { name, steps: [{ name: 'one', group: 'local', script: 'true' }] });
            }
            await page.goto(`${base}/templates`);
            const names = () => page.locator('tbody tr td:first-child strong').allInnerTexts();
            await waitUntil('the templates', names, (n) => n.includes('zeta-tpl'));
            const up = await names();
            const sorted = [...up].sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase()));
            if (JSON.stringify(up) !== JSON.stringify(sorted)) throw new Error(`templates not by name: ${up}`);
            await page.getByTestId('list-sort').click();
            await waitUntil('the other way round', names, (n) => JSON.stringify(n) === JSON.stringify([...up].reverse()));
            await page.getByTestId('list-search').fill('ZETA');
            await waitUntil('one template found', names, (n) => n.length === 1 && n[0] === 'zeta-tpl');
            await page.getByTestId('list-search').fill('no-such-template');
            await page.getByTestId('list-no-match').waitFor();

            for (const name of ['beta-feed', 'alpha-feed']) await api('/tokens', { name, scopes: ['read'] });
            await page.goto(`${base}/tokens`);
            const tokens = () => page.locator('tbody tr td:first-child').allInnerTexts();
            await waitUntil('the tokens by name', tokens, (n) => n.length >= 2 && n.indexOf('alpha-feed') < n.indexOf('beta-feed') && n.indexOf('alpha-feed') >= 0);
            await page.getByTestId('list-search').fill('beta');
            await waitUntil('one token found', tokens, (n) => n.length === 1 && n[0] === 'beta-feed');
        });
        await step('a template that is not there shows its error and no editor', async () => {
            await page.goto(`${base}/templates/999999`);
            await page.getByRole('alert').waitFor();
            await waitUntil('the editor hidden', () => page.locator('main form').isVisible(), (v) => v === false);
        });
        await step('a user changes their own password on the Me page and signs in with it', async () => {
            const me = await newPage(browser);
            await login(me, base, cfg.plain_user, cfg.plain_password);
            await me.goto(`${base}/me`);
            await me.getByTestId('my-tokens').waitFor();
            await field(me, 'Current password').fill(cfg.plain_password);
            await field(me, 'New password (at least 8 characters)').fill('brand-new-pass-1');
            await field(me, 'New password again').fill('brand-new-pass-2');
            await button(me, 'Change password').click();
            await me.getByText('The two new passwords differ.').waitFor();
            await field(me, 'New password again').fill('brand-new-pass-1');
            await button(me, 'Change password').click();
            await button(me, 'Sign in').waitFor();
            await login(me, base, cfg.plain_user, 'brand-new-pass-1');
            await me.context().close();
        });
        await step('no console errors', async () => assertNoConsoleErrors());
    } finally {
        await browser.close();
    }
}

main().then(
    () => console.log('lists check passed'),
    (e) => {
        console.error(`lists check failed: ${e.stack || e}`);
        process.exit(1);
    },
);
