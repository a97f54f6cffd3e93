import ICAL from 'ical.js';

export interface EmbargoEvent {
  releaseId: number;
  /** The release version: every edit bumps it, so it orders the entries a calendar receives. */
  version: number;
  title: string;
  embargoAt: Date;
  /** The domain the UID is made under (the sender's). */
  domain: string;
  /** The release's page once lifted, for the entry's URL. */
  url?: string;
}

const PRODID = '-//Presslift//Embargo calendar//EN';
/** The entry is a marker of the instant, a quarter of an hour long so calendars show it. */
const LENGTH_MS = 15 * 60_000;

const utc = (date: Date) => ICAL.Time.fromJSDate(date, true);

/**
 * The calendar entry for a release's embargo lift (RFC 5545/5546, METHOD:PUBLISH), the instant in
 * UTC. Its UID is the release's own, and its SEQUENCE the release version, so a later entry for the
 * same release (an advance copy of a new version, or a change notice when the embargo moves)
 * replaces the earlier one in the reader's calendar instead of adding a second. Pure: the change
 * notices call it with the release as it then stands. Built and serialised by ical.js (escaping,
 * line folding), not by hand.
 */
export function embargoCalendar(
  event: EmbargoEvent,
  status: 'CONFIRMED' | 'CANCELLED' = 'CONFIRMED',
  now = new Date(),
): string {
  const calendar = new ICAL.Component(['vcalendar', [], []]);
  calendar.addPropertyWithValue('prodid', PRODID);
  calendar.addPropertyWithValue('version', '2.0');
  calendar.addPropertyWithValue('calscale', 'GREGORIAN');
  calendar.addPropertyWithValue('method', 'PUBLISH');
  const entry = new ICAL.Component('vevent');
  entry.addPropertyWithValue('uid', `release-${event.releaseId}-embargo@${event.domain}`);
  entry.addPropertyWithValue('sequence', event.version);
  entry.addPropertyWithValue('dtstamp', utc(now));
  entry.addPropertyWithValue('dtstart', utc(event.embargoAt));
  entry.addPropertyWithValue('dtend', utc(new Date(event.embargoAt.getTime() + LENGTH_MS)));
  entry.addPropertyWithValue('summary', `Embargo lifts: ${event.title}`);
  entry.addPropertyWithValue(
    'description',
    `The embargo on "${event.title}" lifts at this moment. Until then the release is confidential.`,
  );
  entry.addPropertyWithValue('status', status);
  entry.addPropertyWithValue('transp', 'TRANSPARENT');
  if (event.url) entry.addPropertyWithValue('url', event.url);
  calendar.addSubcomponent(entry);
  return calendar.toString().replace(/\r?\n/g, '\r\n') + '\r\n';
}
