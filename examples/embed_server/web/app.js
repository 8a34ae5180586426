// The page side of the embed_server example: fetch the crate's embed config from our server,
// hand it to powerbi-client unchanged, and swap in a fresh embed token before the current one
// expires (an expired token stops the report from answering, with no reload to recover).
//
// `window.__embedEvents` logs what happened (no tokens). With `?test` in the page URL, calls
// to `report.setAccessToken` are logged with their token too, for the browser test.
(function () {
  'use strict';

  // Microsoft's guidance is to renew a few minutes before expiry; a short-lived token (as the
  // fake issues for the browser test) is renewed after three quarters of its life instead.
  const MAX_MARGIN_MS = 2 * 60 * 1000;
  // However near the expiration, never ask the server more often than this.
  const MIN_DELAY_MS = 1000;
  // After a failed renewal; the last delay repeats.
  const RETRY_DELAYS_MS = [2000, 5000, 15000, 30000];

  const TEST_MODE = new URLSearchParams(window.location.search).has('test');
  // `?scenario=edit|v2|aad` asks the server for another embedding scenario than a View token.
  const SCENARIO = new URLSearchParams(window.location.search).get('scenario');
  const CONFIG_URL = '/api/embed-config' + (SCENARIO ? '?scenario=' + encodeURIComponent(SCENARIO) : '');
  const events = [];
  window.__embedEvents = events;

  const statusLine = document.getElementById('status');
  const note = document.getElementById('note');
  const container = document.getElementById('report-container');

  let report = null;
  let timer = null;
  let renewAt = Infinity;
  let renewing = false;
  let failures = 0;

  function record(type, detail) {
    // `type` and `at` last, so that no detail can overwrite them.
    events.push(Object.assign({}, detail, { type: type, at: new Date().toISOString() }));
  }

  function setStatus(text, isError) {
    statusLine.textContent = text;
    statusLine.classList.toggle('error', Boolean(isError));
  }

  // powerbi-client throws arrays of `{message}` for invalid configs and rejects with
  // `{body}` objects; make any of them a readable line.
  function describe(error) {
    if (Array.isArray(error)) return error.map(describe).join('; ');
    if (error && error.message) return String(error.message);
    if (error && error.body) return describe(error.body);
    return String(error);
  }

  function clockTime(iso) {
    return new Date(iso).toLocaleTimeString();
  }

  async function fetchConfig() {
    const response = await fetch(CONFIG_URL, { cache: 'no-store', headers: { Accept: 'application/json' } });
    const body = await response.json().catch(() => null);
    if (!response.ok || !body) {
      throw new Error((body && body.error) || 'the server answered HTTP ' + response.status);
    }
    // The expiration was set by Power BI's clock, which the server's tracks closely; measure
    // against the server's clock, not the browser's, so that a laptop clock minutes off
    // neither renews in a loop nor too late.
    const serverNow = Date.parse(response.headers.get('Date') || '');
    const skewMs = Number.isNaN(serverNow) ? 0 : serverNow - Date.now();
    record('config-fetched', { tokenId: body.tokenId, expiration: body.expiration });
    return { config: body, skewMs: skewMs, backend: response.headers.get('X-PowerBI-Embed-Backend') };
  }

  // How long to wait before renewing a token that expires at `expiration`.
  function renewalDelay(expiration, skewMs) {
    const remaining = Date.parse(expiration) - (Date.now() + skewMs);
    if (!(remaining > 0)) {
      throw new Error('the server sent a token that has already expired (' + expiration + ')');
    }
    const margin = Math.min(MAX_MARGIN_MS, remaining / 4);
    return Math.max(remaining - margin, MIN_DELAY_MS);
  }

  function scheduleRenewal(delayMs) {
    clearTimeout(timer);
    renewAt = Date.now() + delayMs;
    timer = setTimeout(renew, delayMs);
    record('renewal-scheduled', { inMs: Math.round(delayMs) });
  }

  async function renew() {
    if (renewing) return;
    renewing = true;
    clearTimeout(timer);
    try {
      const fresh = await fetchConfig();
      // Scheduled before the token is applied: the next renewal is due by this token's
      // expiry whether or not the frame acknowledges it.
      scheduleRenewal(renewalDelay(fresh.config.expiration, fresh.skewMs));
      await report.setAccessToken(fresh.config.accessToken);
      failures = 0;
      record('token-applied', { tokenId: fresh.config.tokenId });
      setStatus('Embed token renewed; the new one expires at ' + clockTime(fresh.config.expiration) + '.');
    } catch (error) {
      const delay = RETRY_DELAYS_MS[Math.min(failures, RETRY_DELAYS_MS.length - 1)];
      failures += 1;
      console.error('Embed token renewal failed; retrying in ' + delay + ' ms:', describe(error));
      record('renewal-failed', { error: describe(error), retryInMs: delay });
      setStatus('Could not renew the embed token (' + describe(error) + '); retrying in ' + delay / 1000 + ' s.', true);
      scheduleRenewal(delay);
    } finally {
      renewing = false;
    }
  }

  // Timers in a hidden tab are throttled (to once a minute, or less), so a token can run out
  // while the tab is in the background: catch up as soon as it is visible again.
  document.addEventListener('visibilitychange', function () {
    if (document.visibilityState === 'visible' && report && Date.now() >= renewAt) renew();
  });

  function instrumentForTests(embed) {
    if (!TEST_MODE) return;
    const setAccessToken = embed.setAccessToken.bind(embed);
    embed.setAccessToken = function (token) {
      record('setAccessToken', { token: token });
      return setAccessToken(token);
    };
  }

  function showInstallHelp() {
    setStatus('powerbi-client is not installed on the server.', true);
    note.textContent = '';
    const command = document.createElement('code');
    command.textContent = 'examples/embed_server/install-js.sh';
    note.append('Run ', command, ' in the crate, then reload this page.');
    note.hidden = false;
  }

  function showFakeNote() {
    note.textContent = 'This server runs on the built-in fake of Entra ID and Power BI: the embed config and ' +
      'its token renewal are real, but there is no report behind the frame to render.';
    note.hidden = false;
  }

  async function start() {
    // powerbi-client's script sets `window.powerbi`; a 503 from the server (not installed)
    // leaves it unset.
    if (!window.powerbi || !window['powerbi-client']) {
      record('powerbi-client-missing');
      showInstallHelp();
      return;
    }
    let first;
    try {
      first = await fetchConfig();
    } catch (error) {
      console.error('Could not get an embed config:', describe(error));
      setStatus('Could not get an embed config: ' + describe(error) + ' Reload to try again.', true);
      return;
    }
    if (first.backend === 'fake') showFakeNote();
    try {
      report = window.powerbi.embed(container, first.config);
    } catch (error) {
      console.error('powerbi.embed refused the config:', describe(error));
      setStatus('powerbi-client refused the embed config: ' + describe(error), true);
      return;
    }
    instrumentForTests(report);
    record('embedded', { embedType: first.config.type, id: first.config.id, embedUrl: first.config.embedUrl });
    report.on('loaded', function () { record('loaded'); });
    report.on('error', function (event) {
      console.error('Power BI reported an error:', describe(event.detail));
      record('powerbi-error', { error: describe(event.detail) });
    });
    try {
      scheduleRenewal(renewalDelay(first.config.expiration, first.skewMs));
    } catch (error) {
      console.error('Cannot schedule the embed token renewal:', describe(error));
      scheduleRenewal(RETRY_DELAYS_MS[0]);
    }
    setStatus('Embedded report ' + first.config.id + '; its embed token expires at ' +
      clockTime(first.config.expiration) + ' and is renewed before then.');
  }

  start();
})();
