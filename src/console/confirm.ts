import { DateTime } from 'luxon';
import { inZone } from '../embargo/time.js';

/**
 * The sentences a confirmation dialog shows, so staff read exactly what a button will do,
 * e.g. "37,412 journalists will receive this at 00:01 EDT Fri 18 Oct (04:01 UTC)."
 */

export function journalists(count: number): string {
  if (count === 0) return 'No journalists';
  return `${count.toLocaleString('en-US')} ${count === 1 ? 'journalist' : 'journalists'}`;
}

/** "00:01 EDT Fri 18 Oct (04:01 UTC)"; the year appears only when it is not this year. */
export function shortWhen(instant: Date, zone: string, now = new Date()): string {
  const local = DateTime.fromJSDate(instant, { zone }).setLocale('en-GB');
  const utc = DateTime.fromJSDate(instant, { zone: 'utc' });
  const year = local.year === DateTime.fromJSDate(now, { zone }).year ? '' : ` ${local.year}`;
  const day = `${local.toFormat('HH:mm')} ${inZone(instant, zone).abbreviation} ${local.toFormat('ccc d LLL')}${year}`;
  return zone === 'UTC' || zone === 'Etc/UTC' ? `${day}` : `${day} (${utc.toFormat('HH:mm')} UTC)`;
}

export function scheduleMessage(recipients: number, instant: Date, zone: string): string {
  return `${journalists(recipients)} will receive this at ${shortWhen(instant, zone)}.`;
}

export function rescheduleMessage(recipients: number, from: Date, to: Date, zone: string): string {
  return `The embargo moves from ${shortWhen(from, zone)} to ${shortWhen(to, zone)}. ${journalists(recipients)} will receive this at the new time; nothing is sent at the old one.`;
}

export function unscheduleMessage(instant: Date, zone: string): string {
  return `The release goes back to draft. Nothing will be sent at ${shortWhen(instant, zone)} unless you schedule it again.`;
}

export function liftMessage(recipients: number, instant: Date, zone: string): string {
  return `The embargo ends now instead of at ${shortWhen(instant, zone)}: ${journalists(recipients)} will receive this within minutes. This cannot be undone.`;
}

export function cancelMessage(status: string, waiting: number, sent: number, instant: Date, zone: string): string {
  if (status === 'sending') {
    return `Sending stops: ${journalists(waiting).replace(/^No journalists/, 'no journalists')} still waiting will not receive this. ${sent.toLocaleString('en-US')} already sent cannot be recalled.`;
  }
  return `Nothing will be sent: the release is cancelled and the embargo of ${shortWhen(instant, zone)} is dropped. This cannot be undone.`;
}

export function retryMessage(failed: number): string {
  return `${failed.toLocaleString('en-US')} failed ${failed === 1 ? 'delivery is' : 'deliveries are'} queued again and sent now; addresses that unsubscribed or were suppressed meanwhile are skipped.`;
}
