// Every page in Simplified Chinese and in English, on a desktop and on a phone: no English
// text of the catalogue (or any other English words) left on a Chinese page, the language
// switch in the menu and its memory, no page wider than a 390 px phone, and screenshots of
// every page in both languages at 1280 and 390 px kept as artefacts.
//
// Run by backend/tests/api/ui_i18n.rs, which starts the server, fills it with one of each
// thing and writes the JSON configuration named by TASKGATE_E2E_CONFIG
// ({"base_url", "artifacts_dir", "admin_password", "pages": [path…], "data_words": [word…]}).

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { assertNoConsoleErrors, button, field, launch, login, newPage, readConfig, screenshot, settle, step, waitUntil } from './lib.mjs';

const cfg = readConfig();
process.env.ARTIFACTS_DIR ||= cfg.artifacts_dir;
const base = cfg.base_url.replace(/\/$/, '');
const locales = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../locales');

/** Every text of a locale's catalogues, by dotted key. */
function catalogue(locale) {
    const out = new Map();
    const walk = (prefix, value) => {
        if (typeof value === 'string') out.set(prefix, value);
        else for (const [k, v] of Object.entries(value)) walk(prefix ? `${prefix}.${k}` : k, v);
    };
    for (const file of fs.readdirSync(path.join(locales, locale))) {
        if (file.endsWith('.json')) walk(file.replace(/\.json$/, ''), JSON.parse(fs.readFileSync(path.join(locales, locale, file), 'utf8')));
    }
    return out;
}

const en = catalogue('en');
const zh = catalogue('zh-CN');

/** An English catalogue text as a pattern that matches it with its `{places}` filled. */
function pattern(text) {
    const parts = text.split(/\{\w+\}/).map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    return new RegExp(`^${parts.join('.+?')}$`);
}

// English texts that Chinese readers must not see: those translated differently, with at
// least one word (language names, "GitLab", "#{id}" are the same in both).
const english = [...en.entries()]
    .filter(([k, v]) => zh.get(k) !== v && /[A-Za-z]{2,}/.test(v.replace(/\{\w+\}/g, '')))
    .map(([k, v]) => ({ key: k, text: v, re: pattern(v.trim()) }));

// Words that are not UI text: names of the things the test made, product and protocol names.
const allowed = new Set(
    [
        'Taskgate', 'GitLab', 'English', 'API', 'SSH', 'HTTP', 'HTTPS', 'JSON', 'URL', 'ID', 'CSV', 'SMTP', 'TLS', 'cron',
        'UTC', 'CODO', 'Webhook', 'SHA256', 'Ed25519', 'RSA', 'Bearer', 'OpenAPI', 'JWT', 'Asia', 'Shanghai', 'local',
        'localhost', 'admin', 'Administrator', 'system', 'Shell', 'Bearer',
        // API field names and codes quoted in the text.
        'raw', 'token',
    ]
        .concat(cfg.data_words)
        .map((w) => w.toLowerCase()),
);

/**
 * The visible texts of the page (text nodes, and the placeholders, titles and labels
 * read aloud), leaving out data shown as it is: code, logs, inputs' values.
 */
async function visibleTexts(page) {
    return page.evaluate(() => {
        const skip = (el) => el.closest('code, pre, kbd, samp, textarea, .log, .mono, [data-raw], script, style, noscript');
        const out = [];
        const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
        for (let n = walker.nextNode(); n; n = walker.nextNode()) {
            const el = n.parentElement;
            const text = n.textContent.trim();
            if (!text || !el || skip(el)) continue;
            const style = getComputedStyle(el);
            if (style.display === 'none' || style.visibility === 'hidden') continue;
            out.push({ text, where: el.tagName.toLowerCase() + (el.className ? `.${String(el.className).split(' ')[0]}` : '') });
        }
        for (const el of document.body.querySelectorAll('[placeholder], [title], [aria-label]')) {
            if (skip(el)) continue;
            for (const a of ['placeholder', 'title', 'aria-label']) {
                const v = el.getAttribute(a);
                if (v && v.trim()) out.push({ text: v.trim(), where: `${el.tagName.toLowerCase()}[${a}]` });
            }
        }
        return out;
    });
}

/**
 * The English words of a text: words of two or more letters, leaving out code and data
 * written inside it (`{{ tag }}`, `` `ssh-keygen -lf` ``, `KEY=value`, `/api/v1/...`,
 * `task.approve`, acronyms such as POST, anything with digits) and the allowed words.
 */
function englishWords(text) {
    return text
        .replace(/\{\{[^}]*\}\}|`[^`]*`/g, ' ')
        .split(/[\s\u3000-\u303f\uff00-\uffef]+/)
        .filter((token) => token && !/[{}\/=:<>_.@#$\d]|\w-\w/.test(token.replace(/[,.;!?)…]+$/, '')) && !/^[A-Z]{2,}[,.;…]?$/.test(token))
        // Latin words inside a token too: an untranslated noun glued to Chinese ("新建command").
        .flatMap((token) => token.match(/[A-Za-z][A-Za-z'’]*/g) || [])
        .filter((w) => w.length >= 2 && !/^[A-Z]{2,}$/.test(w) && !allowed.has(w.toLowerCase()));
}

/** What on the page is English: catalogue texts, and other words not allowed as data. */
function untranslated(texts) {
    const found = [];
    for (const { text, where } of texts) {
        if (allowed.has(text.toLowerCase())) continue;
        const hit = english.find((e) => e.re.test(text));
        if (hit) {
            found.push(`${where}: ${JSON.stringify(text)} (catalogue ${hit.key})`);
            continue;
        }
        const words = englishWords(text);
        if (words.length) found.push(`${where}: ${JSON.stringify(text)} (words ${words.join(' ')})`);
    }
    return found;
}

/** Waits until the page has stopped showing loading placeholders. */
async function loaded(page) {
    await settle(page);
    await waitUntil('the page to finish loading', () => page.locator('[aria-busy="true"]').count(), (n) => n === 0, 15_000);
    // Every page has a heading: a blank page or a failed start is not a pass.
    await page.locator('main h1').first().waitFor({ timeout: 15_000 });
}

/** Pages wider than the screen: the document, and any table or list sticking out. */
async function overflow(page) {
    return page.evaluate(() => {
        const width = document.documentElement.clientWidth;
        const out = [];
        if (document.documentElement.scrollWidth > width + 1) out.push(`document is ${document.documentElement.scrollWidth}px wide`);
        for (const el of document.querySelectorAll('table, ul, ol, .card, form, nav, header')) {
            const r = el.getBoundingClientRect();
            if (r.width > 0 && (r.right > width + 1 || r.left < -1)) {
                out.push(`${el.tagName.toLowerCase()}${el.className ? `.${String(el.className).split(' ')[0]}` : ''} spans ${Math.round(r.left)}..${Math.round(r.right)}px`);
            }
        }
        return out;
    });
}

function shotName(p) {
    return p === '/' ? 'dashboard' : p.replace(/^\//, '').replace(/\//g, '-');
}

async function main() {
    const browser = await launch();
    const problems = [];
    try {
        await step('the catalogues have the same keys', async () => {
            const missing = [...en.keys()].filter((k) => !zh.has(k)).concat([...zh.keys()].filter((k) => !en.has(k)));
            if (missing.length) throw new Error(`keys in one catalogue only: ${missing.join(', ')}`);
        });
        const zhLabels = { username: zh.get('common.login.username'), password: zh.get('common.login.password'), signIn: zh.get('common.login.sign_in') };
        await step("form errors, the form's own and the server's, read in Chinese", async () => {
            const page = await newPage(browser, { locale: 'zh-CN' });
            await login(page, base, 'admin', cfg.admin_password, zhLabels);
            await page.goto(`${base}/commands`);
            // The form's own check (shared with the server): a blank name.
            await field(page, zh.get('library.shared.name')).fill('  ');
            await field(page, zh.get('library.commands.body')).fill('echo 1');
            await button(page, zh.get('common.crud.create')).click();
            await page.locator('.field-error, .form-error').getByText('不能为空').first().waitFor();
            // Only the server's: a placeholder naming a reserved variable, a message in a message.
            await field(page, zh.get('library.shared.name')).fill('坏的命令');
            await field(page, zh.get('library.commands.body')).fill('echo {{ PATH }}');
            await button(page, zh.get('common.crud.create')).click();
            await page.locator('.field-error, .form-error').getByText(/^占位符 \{\{ PATH \}\}：PATH 是保留名称/).first().waitFor();
            await screenshot(page, 'zh-CN-server-error');
            const found = untranslated(await visibleTexts(page));
            if (found.length) throw new Error(`English left next to the errors:\n    ${found.join('\n    ')}`);
            await page.context().close();
        });
        await step('the language switch changes the language and keeps it', async () => {
            const page = await newPage(browser);
            await login(page, base, 'admin', cfg.admin_password);
            await page.getByRole('link', { name: 'Tasks', exact: true }).waitFor();
            // The switch loads the page again, in the chosen language.
            await Promise.all([page.waitForEvent('load'), page.getByTestId('language').selectOption('zh-CN')]);
            await page.getByRole('link', { name: '任务', exact: true }).waitFor();
            const lang = await page.evaluate(() => document.documentElement.lang);
            if (lang !== 'zh-CN') throw new Error(`<html lang> is ${lang}, not zh-CN`);
            await page.reload();
            await page.getByRole('link', { name: '任务', exact: true }).waitFor();
            // Chosen on a deeper page, the language holds for the whole site.
            await page.goto(`${base}${cfg.pages.find((p) => /^\/tasks\/\d+$/.test(p))}`);
            await Promise.all([page.waitForEvent('load'), page.getByTestId('language').selectOption('en')]);
            await page.getByRole('link', { name: 'Tasks', exact: true }).waitFor();
            await page.goto(`${base}/`);
            await page.getByRole('link', { name: 'Tasks', exact: true }).waitFor();
            await Promise.all([page.waitForEvent('load'), page.getByTestId('language').selectOption('zh-CN')]);
            await page.goto(`${base}${cfg.pages.find((p) => /^\/templates\/\d+$/.test(p))}`);
            await page.getByRole('link', { name: '任务', exact: true }).waitFor();
            await page.context().close();
        });

        for (const [locale, labels] of [
            ['zh-CN', zhLabels],
            ['en-US', undefined],
        ]) {
            for (const width of [1280, 390]) {
                await step(`every page in ${locale} at ${width} px`, async () => {
                    const page = await newPage(browser, { width, height: width > 500 ? 800 : 844, locale });
                    if (locale === 'zh-CN') {
                        await page.goto(`${base}/login`);
                        await screenshot(page, `${locale}-${width}-login`);
                        const found = untranslated(await visibleTexts(page));
                        if (found.length) problems.push(`${locale} /login:\n    ${found.join('\n    ')}`);
                    }
                    await login(page, base, 'admin', cfg.admin_password, labels);
                    for (const p of cfg.pages) {
                        await page.goto(`${base}${p}`);
                        await loaded(page);
                        await screenshot(page, `${locale}-${width}-${shotName(p)}`);
                        if (locale === 'zh-CN') {
                            const found = untranslated(await visibleTexts(page));
                            if (found.length) problems.push(`${locale} ${p} at ${width}px, English left:\n    ${found.join('\n    ')}`);
                        }
                        if (width < 500) {
                            const wide = await overflow(page);
                            if (wide.length) problems.push(`${locale} ${p} at ${width}px, wider than the screen:\n    ${wide.join('\n    ')}`);
                        }
                    }
                    await page.context().close();
                });
            }
        }
        await step('no English on Chinese pages, nothing wider than a phone', async () => {
            if (problems.length) throw new Error(problems.join('\n'));
        });
        assertNoConsoleErrors();
    } finally {
        await browser.close();
    }
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
