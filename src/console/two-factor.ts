import { html, raw, type Html } from '../render/html.js';

/** The pieces of the console that set up and show a second factor, shared by sign-in enrolment and the account page. */

/** The QR code an authenticator app scans, the secret for typing in, and the form that confirms a first code. */
export function enrolmentForm(options: {
  action: string;
  csrf: string;
  qrSvg: string;
  secret: string;
  error?: string;
  hidden?: Record<string, string>;
}): Html {
  return html`
<ol class="steps">
  <li>Open an authenticator app (1Password, Google Authenticator, Aegis, …) and scan this code.
    <div class="qr" data-totp-qr>${raw(options.qrSvg)}</div>
    <p class="muted small">Cannot scan? Enter this key by hand: <code data-totp-secret>${options.secret.match(/.{1,4}/g)!.join(' ')}</code></p></li>
  <li>Type the six-digit code the app shows.</li>
</ol>
${options.error ? html`<p class="alert alert-error" role="alert">${options.error}</p>` : ''}
<form method="post" action="${options.action}" class="stack">
  <input type="hidden" name="_csrf" value="${options.csrf}">
  ${Object.entries(options.hidden ?? {}).map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}">`)}
  <label>Code<input name="code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]{6,7}" required autofocus></label>
  <button class="primary" type="submit">Turn on two-factor sign-in</button>
</form>`;
}

/** Shown once, right after they are made: only their hashes are kept. */
export function recoveryCodesPanel(codes: string[], next: Html): Html {
  return html`
<p><strong>Save these recovery codes now.</strong> Each signs you in once if you lose your authenticator. They are shown only this once.</p>
<ul class="recovery-codes" data-recovery-codes>${codes.map((code) => html`<li><code>${code}</code></li>`)}</ul>
${next}`;
}
