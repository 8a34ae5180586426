// Browser test of the embed_server example, in headless Chromium driven by playwright-core.
// browser-test.sh builds and starts the server (on the built-in fake, with short-lived embed
// tokens) and runs: node browser-test.mjs <server URL> <screenshot path>
//
// It checks that (a) the config the page fetches passes powerbi-models' validateReportLoad,
// (b) powerbi.embed() takes it and creates the report iframe at its embedUrl, (c) nothing logs a
// console error or throws, and (d) the page renews the token: setAccessToken is called with new
// tokens, each from a new /api/embed-config response, before the old token expires; and (e) for
// each of issue 17's scenarios (an Edit config, a config from a multi-resource token, a
// tokenType Aad config), the config passes validateReportLoad and what powerbi-client sent the
// report frame in /report/load carries its permissions, viewMode and tokenType; and (f) a create
// config passes validateCreateReport and a visual config validateReportLoad.
//
// The report frame: the embedUrl points at https://app.powerbi.com, which this machine cannot
// reach (and must not, for a test). Requests for embed pages are answered with FRAME_STUB, a
// stand-in that records what powerbi-client posts to it and acknowledges each request with a
// 202, as the real frame does. Any other request off the server's origin is blocked and fails
// the test: the page must work offline.

import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { chromium } from 'playwright-core';
import models from 'powerbi-models';

const [baseUrl, screenshotPath] = process.argv.slice(2);
if (!baseUrl || !screenshotPath) {
  console.error('usage: node browser-test.mjs <server URL> <screenshot path>');
  process.exit(2);
}
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
// This machine refuses Chromium's own background connections; these flags stop it trying.
const CHROMIUM_FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const LIFETIME_MS = 1000 * Number(process.env.EMBED_TOKEN_LIFETIME_SECS || 12);
const STEP_TIMEOUT_MS = 20_000;
const RENEWALS = 2;
// Each renewal comes at about 3/4 of a token's life; allow a whole life each, and some slack.
const RENEWALS_TIMEOUT_MS = RENEWALS * LIFETIME_MS + 15_000;

const FRAME_STUB = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Power BI frame stand-in</title></head>
<body style="margin:1rem;font:14px system-ui,sans-serif;background:#f3f2f1;color:#252423">
<p><b>Stand-in for the Power BI report frame</b> (browser test). Requests from powerbi-client:</p>
<ol id="log"></ol>
<script>
  window.__received = [];
  window.addEventListener('message', function (event) {
    var request = event.data;
    if (!request || typeof request !== 'object' || !request.method || !request.url) return;
    window.__received.push({ method: request.method, url: request.url, body: request.body });
    var item = document.createElement('li');
    item.textContent = request.method + ' ' + request.url;
    document.getElementById('log').appendChild(item);
    // http-post-message matches a reply to its request by headers.id.
    event.source.postMessage({ headers: { id: request.headers && request.headers.id }, statusCode: 202, body: null }, event.origin);
  });
</script>
</body></html>`;

const EMBED_PAGE = /\/(reportEmbed|dashboardEmbed|qnaEmbed|embed)$/;

const failures = [];
function check(condition, what) {
  console.log(`${condition ? 'ok  ' : 'FAIL'} ${what}`);
  if (!condition) failures.push(what);
}

function elapsed(since) {
  return `${((Date.now() - since) / 1000).toFixed(1)} s`;
}

async function run(page, seen) {
  const started = Date.now();
  await page.goto(`${baseUrl}/?test`, { waitUntil: 'load', timeout: STEP_TIMEOUT_MS });

  // (b) powerbi.embed() creates the iframe.
  const iframe = await page.waitForSelector('#report-container iframe', { state: 'attached', timeout: STEP_TIMEOUT_MS });
  const src = await iframe.getAttribute('src');
  check(seen.configs.length >= 1, 'the page fetched /api/embed-config');
  const first = (await seen.configs[0]).body;

  // (a) The config, as the page received it, is valid for powerbi-models.
  const validation = models.validateReportLoad(first);
  check(validation === undefined, `validateReportLoad(config) finds no errors${validation ? `: ${JSON.stringify(validation)}` : ''}`);
  check(first.type === 'report' && first.tokenType === models.TokenType.Embed, 'config is a report with tokenType Embed (1)');

  // powerbi-client appends its own parameters (uid=...) to the embedUrl, so: a prefix match,
  // and the ids read back from the src.
  check(src.startsWith(first.embedUrl), `iframe src starts with the config's embedUrl (${first.embedUrl})`);
  const query = new URL(src).searchParams;
  const groupId = new URL(first.embedUrl).searchParams.get('groupId');
  check(query.get('reportId') === first.id && Boolean(groupId) && query.get('groupId') === groupId,
    'iframe src carries the config\'s reportId and the embedUrl\'s groupId');
  // powerbi-client creates the iframe before it validates the config, so the iframe alone does
  // not prove that embed() accepted it: the page logs 'embedded' only once embed() returned.
  const events = () => page.evaluate(() => window.__embedEvents);
  check((await events()).some((e) => e.type === 'embedded' && e.embedUrl === first.embedUrl), 'the page logged powerbi.embed() with that embedUrl');

  // powerbi-client posts the config, token included, to the frame once it has loaded.
  const frame = await waitForFrame(page, first.embedUrl);
  await frame.waitForFunction(() => window.__received.some((r) => r.url === '/report/load'), null, { timeout: STEP_TIMEOUT_MS });
  const load = (await frame.evaluate(() => window.__received)).find((r) => r.url === '/report/load');
  check(load.body.accessToken === first.accessToken && load.body.id === first.id, 'the frame received /report/load with the config\'s token and id');
  console.log(`     embedded in ${elapsed(started)}; waiting up to ${RENEWALS_TIMEOUT_MS / 1000} s for ${RENEWALS} renewals`);

  // (d) Renewal: setAccessToken with a new token, from a new config, before expiry.
  await page.waitForFunction((n) => window.__embedEvents.filter((e) => e.type === 'token-applied').length >= n, RENEWALS,
    { timeout: RENEWALS_TIMEOUT_MS, polling: 250 });
  const log = await events();
  const calls = log.filter((e) => e.type === 'setAccessToken');
  const bodies = await Promise.all(seen.configs.map(async (c) => (await c).body));
  check(bodies.length >= 1 + RENEWALS, `/api/embed-config was fetched ${bodies.length} times (at least ${1 + RENEWALS})`);
  check(calls.length >= RENEWALS, `setAccessToken was called ${calls.length} times (at least ${RENEWALS})`);
  const tokens = [first.accessToken, ...calls.map((c) => c.token)];
  check(new Set(tokens).size === tokens.length, 'every setAccessToken call brought a token different from all before it');
  check(calls.every((c, i) => bodies[i + 1] && c.token === bodies[i + 1].accessToken),
    'each new token is the one in the next /api/embed-config response');
  if (calls.length > 0) {
    const firstRenewal = Date.parse(calls[0].at);
    const issued = Date.parse(log.find((e) => e.type === 'config-fetched').at);
    check(firstRenewal < Date.parse(first.expiration), 'the first token was replaced before it expired');
    check(firstRenewal - issued >= LIFETIME_MS / 2, 'and not in a hurry: after at least half of its life');
  }
  const received = await frame.evaluate(() => window.__received);
  const delivered = received.filter((r) => r.url === '/report/token').map((r) => r.body);
  check(calls.every((c) => delivered.includes(c.token)), 'powerbi-client delivered each new token to the frame (/report/token)');
  check(!log.some((e) => e.type === 'renewal-failed'), 'no renewal failed');
}

// (e) The scenarios: `?scenario=` picks the config; what the frame is told must match it.
const SCENARIOS = [
  { name: 'edit', permissions: models.Permissions.All, viewMode: models.ViewMode.Edit, tokenType: models.TokenType.Embed },
  { name: 'v2', permissions: models.Permissions.Read, viewMode: models.ViewMode.View, tokenType: models.TokenType.Embed },
  { name: 'aad', permissions: undefined, viewMode: undefined, tokenType: models.TokenType.Aad },
];

// (f) Configs the page does not embed here, checked with powerbi-models' own validators.
async function validateOtherConfigs() {
  const fetchConfig = async (name) => (await fetch(`${baseUrl}/api/embed-config?scenario=${name}`)).json();
  const create = await fetchConfig('create');
  const created = models.validateCreateReport(create);
  check(created === undefined && create.type === 'create' && create.permissions === models.Permissions.Create,
    `scenario create: validateCreateReport finds no errors, type create, permissions Create${created ? `: ${JSON.stringify(created)}` : ''}`);
  const visual = await fetchConfig('visual');
  const loaded = models.validateReportLoad(visual);
  check(loaded === undefined && visual.type === 'visual' && typeof visual.pageName === 'string' && typeof visual.visualName === 'string',
    `scenario visual: validateReportLoad finds no errors, with pageName and visualName${loaded ? `: ${JSON.stringify(loaded)}` : ''}`);
}

async function runScenario(context, seen, scenario) {
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  watchForErrors(page, seen);
  const config = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/embed-config', { timeout: STEP_TIMEOUT_MS });
  await page.goto(`${baseUrl}/?test&scenario=${scenario.name}`, { waitUntil: 'load', timeout: STEP_TIMEOUT_MS });
  const body = await (await config).json();
  const what = `scenario ${scenario.name}`;
  const validation = models.validateReportLoad(body);
  check(validation === undefined, `${what}: validateReportLoad(config) finds no errors${validation ? `: ${JSON.stringify(validation)}` : ''}`);
  check(body.permissions === scenario.permissions && body.viewMode === scenario.viewMode && body.tokenType === scenario.tokenType,
    `${what}: the config says permissions ${scenario.permissions}, viewMode ${scenario.viewMode}, tokenType ${scenario.tokenType}`);
  const frame = await waitForFrame(page, body.embedUrl);
  await frame.waitForFunction(() => window.__received.some((r) => r.url === '/report/load'), null, { timeout: STEP_TIMEOUT_MS });
  const load = (await frame.evaluate(() => window.__received)).find((r) => r.url === '/report/load').body;
  check(load.accessToken === body.accessToken && load.id === body.id, `${what}: the frame received the config's token and id`);
  check(load.tokenType === scenario.tokenType, `${what}: /report/load says tokenType ${load.tokenType} (expected ${scenario.tokenType})`);
  if (scenario.permissions !== undefined) {
    check(load.permissions === scenario.permissions, `${what}: /report/load says permissions ${load.permissions} (expected ${scenario.permissions})`);
    check(load.viewMode === scenario.viewMode, `${what}: /report/load says viewMode ${load.viewMode} (expected ${scenario.viewMode})`);
  }
  await page.close();
}

function watchForErrors(page, seen) {
  page.on('console', (message) => {
    if (message.type() === 'error') seen.consoleErrors.push(`${message.text()} (at ${message.location().url || 'unknown'})`);
  });
  page.on('pageerror', (error) => seen.consoleErrors.push(`uncaught: ${error.message}`));
}

async function waitForFrame(page, embedUrl) {
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  for (;;) {
    const frame = page.frames().find((f) => f.url().startsWith(embedUrl));
    if (frame) {
      await frame.waitForLoadState('load', { timeout: STEP_TIMEOUT_MS });
      return frame;
    }
    if (Date.now() > deadline) throw new Error(`no frame loaded ${embedUrl} within ${STEP_TIMEOUT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function main() {
  const origin = new URL(baseUrl).origin;
  const seen = { configs: [], consoleErrors: [], blocked: [], framePages: [] };
  // A fresh profile: nothing cached or remembered from an earlier run.
  const profile = mkdtempSync(path.join(tmpdir(), 'embed-browser-test-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_FLAGS,
    timeout: STEP_TIMEOUT_MS,
    viewport: { width: 1280, height: 800 },
  });
  try {
    await context.route('**/*', (route) => {
      const request = route.request();
      const url = new URL(request.url());
      if (url.origin === origin) return route.continue();
      if (url.protocol === 'https:' && EMBED_PAGE.test(url.pathname) && request.resourceType() === 'document') {
        seen.framePages.push(url.href);
        return route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: FRAME_STUB });
      }
      seen.blocked.push(url.href);
      return route.abort('blockedbyclient');
    });
    const page = context.pages()[0] || (await context.newPage());
    page.setDefaultTimeout(STEP_TIMEOUT_MS);
    watchForErrors(page, seen);
    page.on('response', (response) => {
      if (new URL(response.url()).pathname !== '/api/embed-config') return;
      seen.configs.push(response.json().then((body) => ({ status: response.status(), body })));
    });

    try {
      await run(page, seen);
    } catch (error) {
      check(false, `the run went to the end (${error.message.split('\n')[0]})`);
    }
    try {
      await validateOtherConfigs();
    } catch (error) {
      check(false, `the other configs were validated (${error.message.split('\n')[0]})`);
    }
    for (const scenario of SCENARIOS) {
      try {
        await runScenario(context, seen, scenario);
      } catch (error) {
        check(false, `scenario ${scenario.name} went to the end (${error.message.split('\n')[0]})`);
      }
    }
    // (c) Nothing is excluded: the frame stand-in answers every request, so powerbi-client has
    // nothing to complain about, and every error is ours or the library's.
    check(seen.consoleErrors.length === 0, `no console errors or uncaught exceptions${seen.consoleErrors.length ? `:\n       ${seen.consoleErrors.join('\n       ')}` : ''}`);
    check(seen.blocked.length === 0, `no request left the server's origin but the report frame${seen.blocked.length ? `: ${seen.blocked.join(', ')}` : ''}`);

    mkdirSync(path.dirname(screenshotPath), { recursive: true });
    await page.screenshot({ path: screenshotPath, timeout: STEP_TIMEOUT_MS });
    console.log(`artifact: screenshot ${path.resolve(screenshotPath)}`);
  } finally {
    await context.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  }
}

main().then(
  () => {
    console.log(failures.length ? `browser test FAILED (${failures.length} check(s))` : 'browser test passed');
    process.exit(failures.length ? 1 : 0);
  },
  (error) => {
    console.error(`browser test could not run: ${error.stack || error}`);
    process.exit(1);
  },
);
