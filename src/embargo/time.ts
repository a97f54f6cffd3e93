import { DateTime, IANAZone } from 'luxon';

/** How staff may write an embargo: an instant with its offset, or a wall-clock time in an IANA zone. */
export type EmbargoInput = { at: string; timeZone?: string } | { local: string; timeZone: string; offset?: string };

export interface ResolvedEmbargo {
  instant: Date;
  timeZone: string;
}

/** A refusal that names the input field at fault and says why in words a press officer can act on. */
export class EmbargoInputError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

const LOCAL_FORMAT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/;
const OFFSET_FORMAT = /^[+-]\d{2}:\d{2}$/;

function isKnownZone(zone: string): boolean {
  return IANAZone.isValidZone(zone);
}

function requireZone(zone: string, field: string): void {
  if (!isKnownZone(zone))
    throw new EmbargoInputError(field, `unknown time zone "${zone}"; use an IANA name such as America/New_York`);
}

function offsetText(minutes: number): string {
  const sign = minutes < 0 ? '-' : '+';
  const abs = Math.abs(minutes);
  return `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

/**
 * The instants at which a wall-clock time occurs in a zone: none in a spring-forward gap,
 * two in a fall-back hour, one otherwise.
 */
function localCandidates(local: string, zone: string): DateTime[] {
  const asUtc = DateTime.fromISO(local, { zone: 'utc' });
  const offsets = new Set(
    [-1, 0, 1].map((days) => DateTime.fromMillis(asUtc.toMillis() + days * 86_400_000, { zone }).offset),
  );
  const found = [...offsets]
    .map((offset) => DateTime.fromMillis(asUtc.toMillis() - offset * 60_000, { zone }))
    .filter((candidate) => candidate.toFormat("yyyy-MM-dd'T'HH:mm:ss") === asUtc.toFormat("yyyy-MM-dd'T'HH:mm:ss"));
  return found.sort((a, b) => a.toMillis() - b.toMillis());
}

/**
 * The wall-clock times a spring-forward gap skips, found by bisecting the day around the local
 * time for the instant the offset changes: e.g. from 02:00 (EST) to 03:00 (EDT).
 */
function springForwardAround(local: string, zone: string) {
  const asUtc = DateTime.fromISO(local, { zone: 'utc' }).toMillis();
  let before = asUtc - 86_400_000;
  let after = asUtc + 86_400_000;
  const offsetBefore = DateTime.fromMillis(before, { zone }).offset;
  while (after - before > 60_000) {
    const middle = Math.floor((before + after) / 2);
    if (DateTime.fromMillis(middle, { zone }).offset === offsetBefore) before = middle;
    else after = middle;
  }
  const oldSide = DateTime.fromMillis(after, { zone: 'utc' }).plus({ minutes: offsetBefore }).startOf('minute');
  const newSide = DateTime.fromMillis(after, { zone });
  return {
    from: oldSide.toFormat('HH:mm'),
    to: newSide.startOf('minute').toFormat('HH:mm'),
    fromAbbreviation: abbreviation(DateTime.fromMillis(before, { zone })),
    toAbbreviation: abbreviation(newSide),
  };
}

/**
 * The zone's usual abbreviation (EDT, BST, CEST, IST, AEDT). Intl knows each only in some English
 * locales and otherwise answers "GMT+1", so the first locale that names it wins.
 */
const ABBREVIATION_LOCALES = ['en-US', 'en-GB', 'en-IN', 'en-AU'];
/** By zone and offset: asking Intl in four locales cost most of a millisecond each time. */
const abbreviations = new Map<string, string>();
function abbreviation(dt: DateTime): string {
  const key = `${dt.zoneName} ${dt.offset}`;
  let name = abbreviations.get(key);
  if (name === undefined) {
    const names = ABBREVIATION_LOCALES.map((locale) => dt.setLocale(locale).toFormat('ZZZZ'));
    name = names.find((n) => !/^GMT[+-]/.test(n)) ?? names[0]!;
    abbreviations.set(key, name);
  }
  return name;
}

/**
 * Refuses an embargo in the past or closer than the minimum lead, judged by the clock given
 * (PostgreSQL's wherever a transaction is open): lift is the way to send now.
 */
export function requireLead(instant: Date, now: Date, minLeadSeconds: number): void {
  const leadSeconds = (instant.getTime() - now.getTime()) / 1000;
  if (leadSeconds >= minLeadSeconds) return;
  throw new EmbargoInputError(
    'embargo',
    leadSeconds < 0
      ? 'the instant is in the past; to send now, lift the release'
      : `must be at least ${minLeadSeconds}s ahead; to send now, lift the release`,
  );
}

/** Turns staff input into one instant and the zone the release is written in, or refuses it plainly. */
export function resolveEmbargo(input: EmbargoInput): ResolvedEmbargo {
  if ('at' in input) {
    const zone = input.timeZone ?? 'UTC';
    requireZone(zone, 'embargo.timeZone');
    const parsed = DateTime.fromISO(input.at, { setZone: true });
    if (!parsed.isValid || !/([zZ]|[+-]\d{2}:?\d{2})$/.test(input.at)) {
      throw new EmbargoInputError(
        'embargo.at',
        'must be an ISO-8601 instant with an offset, e.g. 2019-10-18T00:01:00-04:00',
      );
    }
    return { instant: parsed.toJSDate(), timeZone: zone };
  }

  requireZone(input.timeZone, 'embargo.timeZone');
  if (!LOCAL_FORMAT.test(input.local) || !DateTime.fromISO(input.local, { zone: 'utc' }).isValid) {
    throw new EmbargoInputError('embargo.local', 'must be a local date and time such as 2019-10-18T00:01');
  }
  const candidates = localCandidates(input.local, input.timeZone);
  if (candidates.length === 0) {
    const gap = springForwardAround(input.local, input.timeZone);
    throw new EmbargoInputError(
      'embargo.local',
      `${input.local} does not exist in ${input.timeZone}: the clocks spring forward from ${gap.from} to ${gap.to} that night (${gap.fromAbbreviation} to ${gap.toAbbreviation}); choose a time outside the gap`,
    );
  }
  if (input.offset !== undefined) {
    if (!OFFSET_FORMAT.test(input.offset)) throw new EmbargoInputError('embargo.offset', 'must look like -04:00');
    const chosen = candidates.find((c) => offsetText(c.offset) === input.offset);
    if (!chosen) {
      throw new EmbargoInputError(
        'embargo.offset',
        `${input.local} in ${input.timeZone} is never at offset ${input.offset}`,
      );
    }
    return { instant: chosen.toJSDate(), timeZone: input.timeZone };
  }
  if (candidates.length > 1) {
    const names = candidates.map(
      (c) => `${c.toFormat("yyyy-MM-dd'T'HH:mm")}${offsetText(c.offset)} (${abbreviation(c)})`,
    );
    throw new EmbargoInputError(
      'embargo.local',
      `${input.local} happens twice in ${input.timeZone} as the clocks fall back: ${names.join(' or ')}; give embargo.offset to choose one`,
    );
  }
  return { instant: candidates[0]!.toJSDate(), timeZone: input.timeZone };
}

export interface ZonedTime {
  timeZone: string;
  /** ISO-8601 with the zone's offset, e.g. 2019-10-18T00:01:00-04:00. */
  local: string;
  abbreviation: string;
  offset: string;
  /** "00:01 EDT, Friday 18 October 2019" */
  text: string;
}

/**
 * The same instants are shown again and again (every page of releases shows each in five zones),
 * and formatting one costs Luxon and Intl most of a millisecond: answers are kept, frozen.
 */
const zonedTimes = new Map<string, Readonly<ZonedTime>>();
const ZONED_TIMES_KEPT = 10_000;

export function inZone(instant: Date, zone: string): Readonly<ZonedTime> {
  const key = `${instant.getTime()} ${zone}`;
  let zoned = zonedTimes.get(key);
  if (!zoned) {
    if (zonedTimes.size >= ZONED_TIMES_KEPT) zonedTimes.clear();
    zonedTimes.set(key, (zoned = Object.freeze(formatInZone(instant, zone))));
  }
  return zoned;
}

function formatInZone(instant: Date, zone: string): ZonedTime {
  const dt = DateTime.fromJSDate(instant, { zone }).setLocale('en-GB');
  const name = abbreviation(dt);
  return {
    timeZone: zone,
    local: dt.toISO({ suppressMilliseconds: true })!,
    abbreviation: name,
    offset: offsetText(dt.offset),
    text: `${dt.toFormat('HH:mm')} ${name}, ${dt.toFormat('cccc d LLLL yyyy')}`,
  };
}

/** "00:01 EDT, Friday 18 October 2019 (04:01 UTC)" — the wording used in emails and the console. */
export function embargoPhrase(instant: Date, zone: string): string {
  const local = inZone(instant, zone);
  const utc = DateTime.fromJSDate(instant, { zone: 'utc' });
  if (zone === 'UTC' || zone === 'Etc/UTC')
    return `${utc.toFormat('HH:mm')} UTC, ${utc.setLocale('en-GB').toFormat('cccc d LLLL yyyy')}`;
  return `${local.text} (${utc.toFormat('HH:mm')} UTC)`;
}

/** The embargo as every API answer gives it: UTC, the release's zone, and the display zones. */
export function describeEmbargo(instant: Date, zone: string, displayZones: string[]) {
  return {
    utc: instant.toISOString(),
    local: inZone(instant, zone),
    phrase: embargoPhrase(instant, zone),
    displayZones: displayZones.map((z) => inZone(instant, z)),
  };
}
