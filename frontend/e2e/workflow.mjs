// The whole Taskgate workflow through the web UI, as people would click it: an admin sets
// up users, hosts and templates; an operator submits a task that needs approval; an
// approver approves it, watches it fail on one host and redoes it; a long task is aborted
// and its remote process must be gone. Screenshots of every page at desktop and phone
// width go to the artifacts directory.
//
// Run by backend/tests/api/ui.rs, which starts the server and two sshd addresses and
// writes the JSON configuration named by TASKGATE_E2E_CONFIG.

import { execFileSync } from 'node:child_process';
import {
    assertNoConsoleErrors,
    button,
    field,
    launch,
    login,
    newPage,
    readConfig,
    screenshot,
    settle,
    signOut,
    step,
    waitForAttribute,
    waitForText,
    waitUntil,
} from './lib.mjs';

const cfg = readConfig();
process.env.ARTIFACTS_DIR ||= cfg.artifacts_dir;
const base = cfg.base_url.replace(/\/$/, '');
const PASSWORD = 'ui-password-1';
const [addr1, addr2] = cfg.ssh.addresses;

function path(page) {
    return new URL(page.url()).pathname;
}

/** Opens a page through the navigation bar and waits for its URL. */
async function openFromNav(page, link, pathname) {
    await page.getByRole('navigation').getByRole('link', { name: link, exact: true }).click();
    await page.waitForURL((url) => url.pathname === pathname);
}

/** Clicks Create and waits for the new row. */
async function create(page, rowName) {
    await button(page, 'Create').click();
    await page.getByTestId(`row-${rowName}`).waitFor();
}

async function createUser(page, username, role) {
    await field(page, 'Username').fill(username);
    await field(page, 'Password').fill(PASSWORD);
    await field(page, 'Role').selectOption(role);
    await field(page, 'Display name').fill(username[0].toUpperCase() + username.slice(1));
    await field(page, 'Email').fill(`${username}@example.com`);
    await create(page, username);
}

async function createHost(page, name, address) {
    await field(page, 'Name').fill(name);
    await field(page, 'Address').fill(address);
    await field(page, 'Port').fill(String(cfg.ssh.port));
    await field(page, 'User').fill(cfg.ssh.user);
    await field(page, 'Credential').selectOption({ label: 'test-key' });
    await field(page, 'Host key fingerprint').fill(cfg.ssh.fingerprint);
    await field(page, 'Trust on first use').setChecked(false);
    await create(page, name);
}

async function createCommand(page, name, body, description) {
    await field(page, 'Name').fill(name);
    await field(page, 'Body').fill(body);
    await field(page, 'Description').fill(description);
    await create(page, name);
}

/** The step fieldsets of the template editor. */
function stepBox(page, i) {
    return page.getByTestId(`step-${i}`);
}

/**
 * Fills the next step: the editor's trailing blank step if it has one (a new template
 * may start with one), otherwise a step appended with "Add step". Returns its index.
 */
async function addStep(page, { name, group, command, script }) {
    await button(page, 'Add step').waitFor();
    let n = await stepCount(page);
    if (n === 0 || (await field(stepBox(page, n - 1), 'Step name').inputValue()) !== '') {
        await button(page, 'Add step').click();
        await waitUntil(`step ${n} added`, () => stepCount(page), (c) => c === n + 1);
        n += 1;
    }
    const s = stepBox(page, n - 1);
    await field(s, 'Step name').fill(name);
    await field(s, 'Group').fill(group);
    await field(s, 'Command').selectOption({ label: command ?? '(inline script)' });
    if (script !== undefined) await field(s, 'Script').fill(script);
    return n - 1;
}

async function stepCount(page) {
    return page.locator('[data-testid^="step-"]').count();
}

/** Waits for the task detail's status (the page follows the run live). */
async function waitTaskStatus(page, status, timeout = 60_000) {
    await waitForText(page.getByTestId('task-status'), status, timeout);
}

async function waitCell(page, stepIndex, host, status, timeout = 60_000) {
    await waitForAttribute(page.getByTestId(`cell-${stepIndex}-${host}`), 'data-status', status, timeout);
}

/** Selects a cell and waits for a log line containing `text` in the log pane. */
async function waitLogLine(page, stepIndex, host, text, timeout = 30_000) {
    await page.getByTestId(`cell-${stepIndex}-${host}`).click();
    await page.getByTestId('log-pane').locator('.log-line', { hasText: text }).first().waitFor({ timeout });
}

function taskIdOf(page) {
    const m = path(page).match(/^\/tasks\/(\d+)$/);
    if (!m) throw new Error(`not on a task page: ${page.url()}`);
    return Number(m[1]);
}

/** Submits from /tasks/new and returns the new task's id (from the URL it lands on). */
async function submitTask(page, { template, name, args, hosts, needsApproval }) {
    await page.goto(`${base}/tasks/new`);
    await field(page, 'Template').selectOption({ label: template });
    await field(page, 'Task name').fill(name);
    for (const [label, value] of Object.entries(args)) await field(page, label).fill(value);
    for (const [group, list] of Object.entries(hosts)) await page.getByTestId(`hosts-${group}`).fill(list);
    await field(page, 'Needs approval').setChecked(needsApproval);
    await button(page, 'Submit task').click();
    await page.waitForURL((url) => /^\/tasks\/\d+$/.test(url.pathname));
    return taskIdOf(page);
}

function remoteProcesses(needle) {
    return execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' })
        .split('\n')
        .filter((l) => l.includes(needle) && !l.includes('ps -eo'));
}

// The greeting fails once on the second host (sshd's SSH_CONNECTION ends with the
// server's address and port), leaving a marker so that a redo succeeds. Parameters are
// inserted shell-quoted, so {{ NAME }} stands outside double quotes.
const greetBody = [
    'echo hello {{ NAME }}',
    'case "$SSH_CONNECTION" in',
    `  *" ${addr2} "*)`,
    `    if [ ! -e ${cfg.marker_dir}/failed-once ]; then`,
    '      echo "ready to fail"',
    `      touch ${cfg.marker_dir}/failed-once`,
    '      exit 3',
    '    fi',
    '    ;;',
    'esac',
].join('\n');

async function main() {
    const browser = await launch();
    try {
        await run(browser);
    } finally {
        await browser.close();
    }
}

async function run(browser) {
    const page = await newPage(browser, { width: 1280, height: 800 });
    let deployId;
    let longId;

    await step('admin signs in', () => login(page, base, 'admin', cfg.admin_password));

    await step('admin creates users', async () => {
        await openFromNav(page, 'Users', '/users');
        await createUser(page, 'olga', 'operator');
        await createUser(page, 'alice', 'approver');
        await screenshot(page, 'setup-users');
    });

    await step('admin creates the SSH key credential', async () => {
        await openFromNav(page, 'Credentials', '/credentials');
        await field(page, 'Name').fill('test-key');
        await field(page, 'Kind').selectOption('private_key');
        await field(page, 'Secret').fill(cfg.ssh.private_key);
        await field(page, 'Description').fill('key of the test sshd');
        await create(page, 'test-key');
        if ((await page.getByTestId('row-test-key').innerText()).includes('PRIVATE KEY')) {
            throw new Error('the credential list shows the secret');
        }
        await screenshot(page, 'setup-credentials');
    });

    await step('admin registers two hosts', async () => {
        await openFromNav(page, 'Hosts', '/hosts');
        await createHost(page, 'h1', addr1);
        await createHost(page, 'h2', addr2);
        await screenshot(page, 'setup-hosts');
    });

    await step('admin creates the NAME alias', async () => {
        await openFromNav(page, 'Aliases', '/aliases');
        await field(page, 'Key').fill('NAME');
        await field(page, 'Label').fill('Target name');
        await field(page, 'Description').fill('lower-case letters only');
        await field(page, 'Required').setChecked(true);
        await field(page, 'Pattern').fill('^[a-z]+$');
        await create(page, 'NAME');
        await screenshot(page, 'setup-aliases');
    });

    await step('admin creates commands', async () => {
        await openFromNav(page, 'Commands', '/commands');
        await createCommand(page, 'greet', greetBody, 'greets, and fails once on the second host');
        await createCommand(page, 'long', `echo started; ${cfg.long_sleep_marker}`, 'runs until aborted');
        await screenshot(page, 'setup-commands');
    });

    await step('admin edits the ui-deploy template', async () => {
        await openFromNav(page, 'Templates', '/templates');
        await page.goto(`${base}/templates/new`);
        await field(page, 'Name').fill('ui-deploy');
        await field(page, 'Description').fill('greets every host');
        await field(page, 'Require approval').setChecked(false);
        if ((await addStep(page, { name: 'bye', group: '1', script: 'echo bye' })) !== 0) {
            throw new Error('a new template starts with more than one step');
        }
        // A step added and removed again.
        await addStep(page, { name: 'extra', group: '1', script: 'echo extra' });
        await button(stepBox(page, 1), 'Remove').click();
        await waitUntil('one step left after Remove', () => stepCount(page), (n) => n === 1);
        // A step added last and moved to the front.
        await addStep(page, { name: 'greet', group: '1', command: 'greet' });
        await button(stepBox(page, 1), 'Move up').click();
        await waitUntil('greet moved up', () => field(stepBox(page, 0), 'Step name').inputValue(), (v) => v === 'greet');
        if ((await field(stepBox(page, 1), 'Step name').inputValue()) !== 'bye') throw new Error('bye is not step 1 after Move up');
        if ((await field(stepBox(page, 1), 'Script').inputValue()) !== 'echo bye') throw new Error('the script did not move with its step');
        await screenshot(page, 'setup-template-editor');
        await button(page, 'Save template').click();
        await page.waitForURL((url) => url.pathname === '/templates');
        await page.getByText('ui-deploy', { exact: true }).first().waitFor();
    });

    await step('admin creates the ui-long template', async () => {
        await page.goto(`${base}/templates/new`);
        await field(page, 'Name').fill('ui-long');
        await addStep(page, { name: 'long', group: '1', command: 'long' });
        await button(page, 'Save template').click();
        await page.waitForURL((url) => url.pathname === '/templates');
        await page.getByText('ui-long', { exact: true }).first().waitFor();
        await screenshot(page, 'setup-templates');
    });

    await step('admin creates an API token and copies it', async () => {
        await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
        await openFromNav(page, 'Tokens', '/tokens');
        await field(page, 'Name').fill('ci');
        await field(page, 'Expires in days').fill('30');
        await button(page, 'Create').click();
        const token = (await page.getByTestId('new-token').innerText()).trim();
        if (token.length < 16) throw new Error(`new token looks wrong: ${JSON.stringify(token)}`);
        await button(page, 'Copy').click();
        await waitUntil('the token on the clipboard', () => page.evaluate(() => navigator.clipboard.readText()), (t) => t.trim() === token);
        await screenshot(page, 'setup-tokens');
    });

    await step('operator olga submits ui-deploy for approval', async () => {
        await signOut(page);
        await login(page, base, 'olga', PASSWORD);
        // An invalid argument is refused in the form, before anything is sent.
        await page.goto(`${base}/tasks/new`);
        await field(page, 'Template').selectOption({ label: 'ui-deploy' });
        await field(page, 'Target name').fill('Bad Name!');
        await field(page, 'Task name').fill('ui-deploy');
        await page.getByTestId('hosts-1').fill('h1,h2');
        await field(page, 'Needs approval').setChecked(true);
        await button(page, 'Submit task').click();
        await page.locator('.field-error').first().waitFor();
        if (path(page) !== '/tasks/new') throw new Error(`an invalid form left /tasks/new for ${page.url()}`);
        await screenshot(page, 'submit-invalid');

        deployId = await submitTask(page, {
            template: 'ui-deploy',
            name: 'ui-deploy',
            args: { 'Target name': 'world' },
            hosts: { 1: 'h1,h2' },
            needsApproval: true,
        });
        await waitTaskStatus(page, 'new', 10_000);
        await screenshot(page, 'task-awaiting-approval');
    });

    await step('approver alice approves it', async () => {
        await signOut(page);
        await login(page, base, 'alice', PASSWORD);
        await openFromNav(page, 'Approvals', '/approvals');
        const card = page.getByTestId(`approval-${deployId}`);
        await card.waitFor();
        await field(card, 'Comment').fill('looks good');
        await screenshot(page, 'approvals');
        await button(card, 'Approve').click();
        await card.waitFor({ state: 'detached' });
    });

    await step('the run fails on h2 and the log streams live', async () => {
        await page.goto(`${base}/tasks/${deployId}`);
        await waitCell(page, 0, 'h1', 'success');
        await waitLogLine(page, 0, 'h1', 'hello world');
        await waitTaskStatus(page, 'failed');
        await waitCell(page, 0, 'h2', 'failed');
        await waitLogLine(page, 0, 'h2', 'ready to fail');
        await screenshot(page, 'task-failed');
    });

    await step('Redo failed makes it a success', async () => {
        await button(page, 'Redo failed').click();
        await waitTaskStatus(page, 'success');
        await waitCell(page, 0, 'h2', 'success');
        await waitCell(page, 1, 'h2', 'success');
        await screenshot(page, 'task-success-after-redo');
    });

    await step('alice submits ui-long and aborts it', async () => {
        longId = await submitTask(page, {
            template: 'ui-long',
            name: 'ui-long',
            args: {},
            hosts: { 1: 'h1' },
            needsApproval: false,
        });
        await waitTaskStatus(page, 'running');
        await waitLogLine(page, 0, 'h1', 'started');
        await screenshot(page, 'task-running');
        await button(page, 'Abort').click();
        await waitTaskStatus(page, 'aborted');
        await waitUntil(
            `no process running ${cfg.long_sleep_marker}`,
            async () => remoteProcesses(cfg.long_sleep_marker),
            (lines) => lines.length === 0,
            10_000,
        );
        await screenshot(page, 'task-aborted');
    });

    await step('a task rejected elsewhere turns rejected on the open page', async () => {
        // Rejection records no run event: the page learns it when the server ends the
        // stream, and must then show the new status rather than reconnect for ever.
        const api = async (method, route, token, body) => {
            const res = await fetch(`${base}/api/v1${route}`, {
                method,
                headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
                body: body === undefined ? undefined : JSON.stringify(body),
            });
            const json = await res.json();
            if (!res.ok) throw new Error(`${method} ${route}: ${res.status} ${JSON.stringify(json)}`);
            return json;
        };
        const olga = (await api('POST', '/auth/login', null, { username: 'olga', password: PASSWORD })).token;
        const admin = (await api('POST', '/auth/login', null, { username: 'admin', password: cfg.admin_password })).token;
        const deploy = await api('GET', `/tasks/${deployId}`, olga);
        const pending = await api('POST', '/tasks', olga, {
            template_id: deploy.template_id, name: 'ui-rejected', schedule: 'new',
            args: { NAME: 'later' }, hosts: { 1: ['h1'] },
        });
        await page.goto(`${base}/tasks/${pending.id}`);
        await waitTaskStatus(page, 'new', 10_000);
        await api('POST', `/tasks/${pending.id}/reject`, admin, { comment: 'not today' });
        await waitTaskStatus(page, 'rejected', 20_000);
        await button(page, 'Approve').waitFor({ state: 'detached', timeout: 5_000 });
        await screenshot(page, 'task-rejected-live');
    });

    await step('screenshots of every page at 1280x800', async () => {
        await signOut(page);
        await login(page, base, 'admin', cfg.admin_password);
        const tour = [
            ['dashboard', '/'],
            ['tasks', '/tasks'],
            ['submit', '/tasks/new'],
            ['approvals', '/approvals'],
            ['task-detail', `/tasks/${deployId}`],
            ['templates', '/templates'],
            ['template-editor', '/templates/new'],
            ['commands', '/commands'],
            ['aliases', '/aliases'],
            ['hosts', '/hosts'],
            ['credentials', '/credentials'],
            ['schedules', '/schedules'],
            ['tokens', '/tokens'],
            ['users', '/users'],
            ['gitlab', '/gitlab'],
            ['mail', '/mail'],
            ['audit', '/audit'],
        ];
        for (const [name, route] of tour) {
            await page.goto(`${base}${route}`);
            await settle(page);
            await page.getByTestId('whoami').waitFor();
            if (name === 'dashboard') await page.getByTestId('count-success').waitFor();
            if (name === 'task-detail') await waitTaskStatus(page, 'success');
            await screenshot(page, `desktop-${name}`);
        }
    });

    await step('screenshots at phone width (390x844)', async () => {
        const phone = await newPage(browser, { width: 390, height: 844 });
        await login(phone, base, 'admin', cfg.admin_password);
        await phone.goto(`${base}/`);
        await settle(phone);
        await phone.getByTestId('count-success').waitFor();
        await screenshot(phone, 'phone-dashboard');
        await phone.goto(`${base}/tasks/${longId}`);
        await settle(phone);
        await waitTaskStatus(phone, 'aborted');
        await screenshot(phone, 'phone-task-detail');
        await phone.goto(`${base}/tasks/new`);
        await settle(phone);
        await field(phone, 'Template').waitFor();
        await screenshot(phone, 'phone-submit');
        await phone.goto(`${base}/tasks`);
        await settle(phone);
        await phone.getByTestId(`task-${deployId}`).waitFor();
        await screenshot(phone, 'phone-tasks');
        await phone.close();
    });

    await step('no console errors on any page', async () => assertNoConsoleErrors());
}

main().then(
    () => {
        console.log('UI workflow passed');
    },
    (e) => {
        console.error(`UI workflow failed: ${e.stack || e}`);
        process.exit(1);
    },
);
