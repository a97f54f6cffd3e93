import type { DeliveryState, ReleaseStatus } from '../states.js';
import { shortWhen } from './confirm.js';
import { html, type Html } from '../render/html.js';

/** Small pieces several console screens share. */

const STATUS_LABELS: Record<ReleaseStatus, string> = {
  draft: 'Draft',
  scheduled: 'Scheduled',
  sending: 'Sending',
  sent: 'Sent',
  cancelled: 'Cancelled',
};

export const statusBadge = (status: ReleaseStatus) =>
  html`<span class="status status-${status}" data-status-badge>${STATUS_LABELS[status]}</span>`;

/** The embargo in the release's zone, with a slot the browser fills in the viewer's own zone. */
export const embargoCell = (instant: Date, zone: string) => html`
<div class="when">${shortWhen(instant, zone)}</div>
<div class="muted small">${zone} · <span data-viewer-time="${instant.toISOString()}"></span></div>`;

/** Time left until a scheduled release lifts, ticking in the browser. */
export const countdown = (instant: Date, status: ReleaseStatus) => {
  if (status === 'scheduled')
    return html`<span class="countdown" data-countdown="${instant.toISOString()}">${instant.toISOString()}</span>`;
  return html`<span class="muted">${status === 'draft' ? 'not scheduled' : '—'}</span>`;
};

const SEGMENTS: Array<{ state: DeliveryState | 'waiting'; label: string }> = [
  { state: 'sent', label: 'sent' },
  { state: 'bounced', label: 'bounced' },
  { state: 'failed', label: 'failed' },
  { state: 'skipped', label: 'skipped' },
  { state: 'cancelled', label: 'cancelled' },
  { state: 'waiting', label: 'waiting' },
];

export type ProgressCounts = Record<DeliveryState | 'waiting', number>;

/** A stacked bar of delivery states; scripts update it while the release is sending. */
export function progressBar(counts: ProgressCounts, total: number): Html {
  const pct = (n: number) => (total > 0 ? ((n / total) * 100).toFixed(2) : '0');
  return html`<div class="progress" role="img" aria-label="${counts.sent} of ${total} sent">
${SEGMENTS.map((s) => html`<span class="seg seg-${s.state}" data-seg="${s.state}" data-width="${pct(counts[s.state])}"></span>`)}
</div>`;
}

export const toCounts = (c: Record<DeliveryState, number>): ProgressCounts => ({ ...c, waiting: c.queued + c.sending });

export const dateTime = (date: Date | null) =>
  date
    ? html`<time data-viewer-time="${date.toISOString()}" data-format="long">${date.toISOString().replace('T', ' ').slice(0, 19)} UTC</time>`
    : html`<span class="muted">—</span>`;

export const formError = html`<p class="form-error" role="alert" hidden></p>`;

/** Switches the preview iframe between phone and desktop width. */
export const previewToggle = html`<div class="segmented" role="group" aria-label="Preview width">
  <button type="button" data-preview-width="375">Phone 375 px</button><button type="button" data-preview-width="640" aria-pressed="true">Desktop 640 px</button>
</div>`;
