// Presslift console: small progressive enhancements over server-rendered pages.
// Every state change goes through the JSON API with the session's CSRF token.
'use strict';

const csrfToken = document.querySelector('meta[name="csrf-token"]')?.content ?? '';

/** Calls the JSON API as the signed-in person; resolves to {ok, status, json}. */
async function api(method, url, body, contentType = 'application/json') {
  const headers = { 'x-csrf-token': csrfToken };
  let payload;
  if (body !== undefined) {
    headers['content-type'] = contentType;
    payload = contentType === 'application/json' ? JSON.stringify(body) : body;
  }
  const response = await fetch(url, { method, headers, body: payload, credentials: 'same-origin' });
  let json = {};
  try {
    json = await response.json();
  } catch {
    /* empty answer */
  }
  return { ok: response.ok, status: response.status, json };
}
window.presslift = { api };

function showError(form, message) {
  const box = form.querySelector('.form-error');
  if (box) {
    box.textContent = message;
    box.hidden = !message;
  } else if (message) alert(message);
}
window.presslift.showError = showError;

// --- Times: the viewer's own zone, and live countdowns -------------------------------------
const viewerZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
function viewerTime(date, long) {
  const options = long
    ? {
        day: 'numeric',
        month: 'short',
        year: 'numeric',
        hour: '2-digit',
        minute: '2-digit',
        second: '2-digit',
        hourCycle: 'h23',
      }
    : {
        weekday: 'short',
        day: 'numeric',
        month: 'short',
        hour: '2-digit',
        minute: '2-digit',
        hourCycle: 'h23',
        timeZoneName: 'short',
      };
  return new Intl.DateTimeFormat('en-GB', options).format(date);
}
function fillViewerTimes(root = document) {
  for (const el of root.querySelectorAll('[data-viewer-time]')) {
    const date = new Date(el.dataset.viewerTime);
    el.textContent = el.dataset.format === 'long' ? viewerTime(date, true) : `${viewerTime(date)} your time`;
    el.title = `${date.toISOString()} · ${viewerZone}`;
  }
}
function countdownText(ms) {
  if (ms <= 0) return 'lifting now';
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400);
  const hh = String(Math.floor((s % 86400) / 3600)).padStart(2, '0');
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, '0');
  const ss = String(s % 60).padStart(2, '0');
  return d > 0 ? `${d}d ${hh}:${mm}:${ss}` : `${hh}:${mm}:${ss}`;
}
function tickCountdowns() {
  for (const el of document.querySelectorAll('[data-countdown]')) {
    el.textContent = countdownText(new Date(el.dataset.countdown).getTime() - Date.now());
  }
}

// --- Bar widths are set from data attributes: the CSP allows no inline styles ---------------
function applyWidths(root = document) {
  for (const el of root.querySelectorAll('.seg[data-width]')) el.style.width = `${el.dataset.width}%`;
}

// --- Dialogs ---------------------------------------------------------------------------------
document.addEventListener('click', (event) => {
  const opener = event.target.closest('[data-open]');
  if (opener) document.getElementById(opener.dataset.open)?.showModal();
  const closer = event.target.closest('[data-close]');
  if (closer) closer.closest('dialog')?.close();
  const width = event.target.closest('[data-preview-width]');
  if (width) {
    const pane = width.closest('section');
    for (const b of pane.querySelectorAll('[data-preview-width]')) b.setAttribute('aria-pressed', String(b === width));
    for (const frame of pane.querySelectorAll('iframe')) frame.style.width = `${width.dataset.previewWidth}px`;
  }
});

// --- Forms that call the JSON API --------------------------------------------------------------
function formObject(form, submitter) {
  const out = {};
  // The button pressed counts too when it has a name (Approve or Refuse).
  for (const [key, value] of new FormData(form, submitter && submitter.name ? submitter : undefined)) {
    if (key === '_csrf') continue;
    // A name given several times (checkboxes) becomes a list.
    out[key] = key in out ? [].concat(out[key], value) : value;
  }
  return out;
}

document.addEventListener('submit', async (event) => {
  const form = event.target;
  if (form.matches('.api-form')) {
    event.preventDefault();
    if (form.dataset.confirmText && !confirm(form.dataset.confirmText)) return;
    // Read before the buttons are disabled: a disabled button is left out of the form's data.
    const body = form.dataset.method === 'DELETE' ? undefined : formObject(form, event.submitter);
    const buttons = form.querySelectorAll('button');
    buttons.forEach((b) => {
      b.disabled = true;
    });
    showError(form, '');
    try {
      const result = await api(form.dataset.method, form.dataset.action, body);
      if (!result.ok) return showError(form, result.json.message ?? `The server answered ${result.status}.`);
      const then = form.dataset.then;
      if (then === 'reload') location.reload();
      else if (then === 'show-token') {
        form.querySelector('[data-token]').textContent = result.json[form.dataset.tokenField ?? 'token'];
        form.querySelector('[data-token-output]').hidden = false;
        form.reset();
      } else if (then) location.assign(then.replace('{id}', result.json.id));
    } catch (error) {
      showError(form, `Could not reach Presslift: ${error.message}`);
    } finally {
      buttons.forEach((b) => {
        b.disabled = false;
      });
    }
  } else if (form.matches('[data-csv-import]')) {
    event.preventDefault();
    importCsv(form);
  }
});

async function importCsv(form) {
  const file = form.querySelector('input[type=file]').files[0];
  const report = form.parentElement.querySelector('[data-import-report]');
  showError(form, '');
  if (!file) return showError(form, 'Choose a CSV file first.');
  const result = await api('POST', form.dataset.csvImport, await file.text(), 'text/csv');
  if (!result.ok) return showError(form, result.json.message ?? `The server answered ${result.status}.`);
  const { added, updated, suppressed, invalid, invalidCount } = result.json;
  report.replaceChildren();
  const summary = document.createElement('p');
  summary.className = invalidCount ? 'alert alert-error' : 'alert alert-ok';
  summary.textContent =
    `${added} added, ${updated} already on the list, ${suppressed} suppressed, ${invalidCount} line${invalidCount === 1 ? '' : 's'} refused` +
    (invalidCount > invalid.length ? ` (the first ${invalid.length} are listed).` : '.');
  report.append(summary);
  if (invalid.length) {
    const list = document.createElement('ul');
    for (const bad of invalid) {
      const item = document.createElement('li');
      item.textContent = `Line ${bad.line}: ${bad.reason}`;
      list.append(item);
    }
    report.append(list);
  }
  const reload = document.createElement('a');
  reload.href = location.pathname;
  reload.textContent = 'Show the updated list';
  report.append(reload);
  report.hidden = false;
}

// --- Live status: a scheduled or sending release updates itself ----------------------------
const LIVE = new Set(['scheduled', 'sending']);
function setCounts(section, release) {
  const counts = release.counts;
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  const waiting = counts.queued + counts.sending;
  const values = { ...counts, total, waiting };
  for (const el of section.querySelectorAll('[data-count]'))
    el.textContent = (values[el.dataset.count] ?? 0).toLocaleString('en-US');
  for (const seg of section.querySelectorAll('.seg')) {
    seg.dataset.width = total ? (((values[seg.dataset.seg] ?? 0) / total) * 100).toFixed(2) : '0';
  }
  applyWidths(section);
}
function watchRelease(section) {
  const id = section.dataset.releaseLive;
  const poll = async () => {
    const result = await api('GET', `/api/releases/${id}`).catch(() => null);
    if (result?.ok) {
      setCounts(section, result.json);
      if (result.json.status !== section.dataset.status) return location.reload();
    }
    setTimeout(poll, 1500);
  };
  if (LIVE.has(section.dataset.status)) setTimeout(poll, 1500);
}
function watchReleaseList() {
  const rows = [...document.querySelectorAll('[data-release-row]')].filter((r) => LIVE.has(r.dataset.releaseStatus));
  if (rows.length === 0) return;
  const poll = async () => {
    // The API's page of the releases this page shows.
    const result = await api('GET', document.querySelector('[data-release-page]').dataset.releasePage).catch(
      () => null,
    );
    if (result?.ok) {
      const byId = new Map(result.json.items.map((r) => [String(r.id), r]));
      if (rows.some((row) => byId.get(row.dataset.releaseRow)?.status !== row.dataset.releaseStatus))
        return location.reload();
      for (const row of rows) setCounts(row, byId.get(row.dataset.releaseRow));
    }
    setTimeout(poll, 3000);
  };
  setTimeout(poll, 3000);
}

document.addEventListener('DOMContentLoaded', () => {
  fillViewerTimes();
  tickCountdowns();
  setInterval(tickCountdowns, 1000);
  applyWidths();
  for (const section of document.querySelectorAll('[data-release-live]')) watchRelease(section);
  watchReleaseList();
});
