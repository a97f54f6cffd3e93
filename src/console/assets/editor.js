// The release editor: live email preview, the embargo check, and save / schedule with confirmation.
'use strict';

(() => {
  const { api, showError } = window.presslift;
  const form = document.getElementById('release-form');
  const previewForm = document.getElementById('preview-form');
  const check = form.querySelector('[data-embargo-check]');
  const audience = form.querySelector('[data-audience]');
  const dialog = document.getElementById('dialog-schedule');
  const releaseId = form.dataset.releaseId;
  const status = form.dataset.releaseStatus;
  let lastCheck = null;

  const value = (name) => form.elements[name].value;
  const listIds = () => [...form.querySelectorAll('input[name=listIds]:checked')].map((box) => Number(box.value));
  const local = () => `${value('date')}T${value('time')}`;
  const embargo = () => ({
    local: local(),
    timeZone: value('timeZone'),
    ...(value('offset') ? { offset: value('offset') } : {}),
  });

  function draft() {
    return {
      title: value('title'),
      summary: value('summary'),
      body: value('body'),
      embargo: embargo(),
      listIds: listIds(),
    };
  }

  function refreshPreview() {
    const fields = {
      title: value('title'),
      summary: value('summary'),
      body: value('body'),
      local: local(),
      offset: value('offset'),
      timeZone: value('timeZone'),
      listIds: listIds().join(','),
    };
    for (const [name, v] of Object.entries(fields)) previewForm.elements[name].value = v;
    previewForm.submit();
  }

  function line(text, className) {
    const p = document.createElement('p');
    p.textContent = text;
    if (className) p.className = className;
    return p;
  }

  async function refreshCheck() {
    const query = new URLSearchParams({ local: local(), timeZone: value('timeZone'), listIds: listIds().join(',') });
    if (value('offset')) query.set('offset', value('offset'));
    if (releaseId) query.set('releaseId', releaseId);
    const result = await api('GET', `/console/embargo-check?${query}`);
    check.replaceChildren();
    lastCheck = result.ok ? result.json : null;
    if (!result.ok) {
      check.append(line(result.json.message ?? 'This embargo cannot be used.', 'bad'));
      audience.textContent = '';
      return;
    }
    const { embargo: e, leadSeconds, minLeadSeconds, recipients } = result.json;
    check.append(line(e.local.text, 'instant'));
    check.append(line(`${e.utc.replace('T', ' ').slice(0, 19)} UTC · offset ${e.local.offset}`, 'muted small'));
    const zones = document.createElement('ul');
    for (const z of e.displayZones)
      zones.append(
        Object.assign(document.createElement('li'), {
          textContent: `${z.timeZone.split('/').pop().replace(/_/g, ' ')}: ${z.text}`,
        }),
      );
    zones.append(
      Object.assign(document.createElement('li'), {
        textContent: `You: ${new Intl.DateTimeFormat('en-GB', { weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZoneName: 'short' }).format(new Date(e.utc))}`,
      }),
    );
    check.append(zones);
    if (leadSeconds < minLeadSeconds) {
      check.append(
        line(
          leadSeconds < 0
            ? 'This instant has passed: choose a later one, or save and use "Lift now" to send immediately.'
            : `Less than ${minLeadSeconds}s away: scheduling will be refused.`,
          'warn',
        ),
      );
    }
    audience.textContent = listIds().length
      ? `${recipients.toLocaleString('en-US')} journalist${recipients === 1 ? '' : 's'} on the chosen lists`
      : 'Choose at least one list.';
  }

  let timer;
  function changed() {
    clearTimeout(timer);
    timer = setTimeout(() => {
      refreshPreview();
      refreshCheck();
    }, 350);
  }
  form.addEventListener('input', changed);
  form.addEventListener('change', changed);

  // An existing release is patched with only what changed, so the audit trail names just that.
  const saved = draft();
  function changes() {
    const now = draft();
    return Object.fromEntries(
      Object.entries(now).filter(([key, value]) => JSON.stringify(value) !== JSON.stringify(saved[key])),
    );
  }

  /** Creates the release, or saves changes to an existing one; resolves to its id or null. */
  async function save(target) {
    if (releaseId && Object.keys(changes()).length === 0) return releaseId;
    const result = releaseId
      ? await api('PATCH', `/api/releases/${releaseId}`, changes())
      : await api('POST', '/api/releases', draft());
    if (!result.ok) {
      showError(target, result.json.message ?? `The server answered ${result.status}.`);
      return null;
    }
    return result.json.id;
  }

  async function busy(button, work) {
    button.disabled = true;
    try {
      await work();
    } finally {
      button.disabled = false;
    }
  }

  form.querySelector('[data-save]').addEventListener('click', (event) =>
    busy(event.target, async () => {
      showError(form, '');
      if (status === 'scheduled') return openConfirm();
      const id = await save(form);
      if (id) location.assign(`/console/releases/${id}`);
    }),
  );

  async function openConfirm() {
    showError(form, '');
    await refreshCheck();
    if (!lastCheck) return showError(form, check.textContent || 'Fix the embargo first.');
    if (listIds().length === 0) return showError(form, 'Choose at least one list.');
    dialog.querySelector('[data-confirm-message]').textContent = lastCheck.message;
    showError(dialog, '');
    dialog.showModal();
  }
  form.querySelector('[data-schedule]')?.addEventListener('click', (event) => busy(event.target, openConfirm));

  dialog.querySelector('[data-confirm]').addEventListener('click', (event) =>
    busy(event.target, async () => {
      const id = await save(dialog);
      if (!id) return;
      if (status !== 'scheduled') {
        const scheduled = await api('POST', `/api/releases/${id}/schedule`);
        if (!scheduled.ok) return showError(dialog, `Saved as a draft, but not scheduled: ${scheduled.json.message}`);
      }
      location.assign(`/console/releases/${id}`);
    }),
  );

  refreshPreview();
  refreshCheck();
})();
