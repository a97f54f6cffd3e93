import { describe, expect, it } from 'vitest';
import {
  EmbargoInputError,
  describeEmbargo,
  embargoPhrase,
  requireLead,
  resolveEmbargo,
  type EmbargoInput,
} from '../../src/embargo/time.js';

/** The refusal resolveEmbargo gives, or a failure when it accepts the input. */
function refusal(input: EmbargoInput): EmbargoInputError {
  try {
    resolveEmbargo(input);
  } catch (error) {
    if (error instanceof EmbargoInputError) return error;
    throw error;
  }
  throw new Error(`accepted ${JSON.stringify(input)}`);
}

describe('resolveEmbargo', () => {
  it('reads an instant with an offset, and a local time in an IANA zone', () => {
    expect(resolveEmbargo({ at: '2019-10-18T00:01:00-04:00' }).instant.toISOString()).toBe('2019-10-18T04:01:00.000Z');
    expect(resolveEmbargo({ local: '2019-10-18T00:01', timeZone: 'America/New_York' })).toEqual({
      instant: new Date('2019-10-18T04:01:00Z'),
      timeZone: 'America/New_York',
    });
  });

  it('refuses an unknown zone and an instant without an offset, naming the field', () => {
    const zone = refusal({ local: '2019-10-18T00:01', timeZone: 'Europe/Atlantis' });
    expect(zone.field).toBe('embargo.timeZone');
    expect(zone.message).toContain('Europe/Atlantis');
    expect(refusal({ at: '2019-10-18T04:01:00Z', timeZone: 'Mars/Olympus' }).field).toBe('embargo.timeZone');
    expect(refusal({ at: '2019-10-18T00:01:00' }).field).toBe('embargo.at');
    expect(refusal({ local: '2019-10-18 noon', timeZone: 'Europe/London' }).field).toBe('embargo.local');
  });

  describe('spring forward: a local time in the gap does not exist', () => {
    it.each([
      ['America/New_York', '2019-03-10T02:30', /from 02:00 to 03:00 .*\(EST to EDT\)/],
      ['Europe/London', '2019-03-31T01:30', /from 01:00 to 02:00 .*\(GMT to BST\)/],
    ])('%s %s is refused, naming the gap', (timeZone, local, gap) => {
      const error = refusal({ local, timeZone });
      expect(error.field).toBe('embargo.local');
      expect(error.message).toMatch(/does not exist/);
      expect(error.message).toMatch(gap);
    });

    it.each([
      ['America/New_York', '2019-03-10T01:59', '2019-03-10T06:59:00.000Z'],
      ['America/New_York', '2019-03-10T03:00', '2019-03-10T07:00:00.000Z'],
      ['Europe/London', '2019-03-31T00:59', '2019-03-31T00:59:00.000Z'],
      ['Europe/London', '2019-03-31T02:00', '2019-03-31T01:00:00.000Z'],
    ])('%s %s, just outside the gap, is accepted', (timeZone, local, utc) => {
      expect(resolveEmbargo({ local, timeZone }).instant.toISOString()).toBe(utc);
    });
  });

  describe('fall back: a local time in the repeated hour is ambiguous', () => {
    it.each([
      ['America/New_York', '2019-11-03T01:30', ['-04:00 (EDT)', '-05:00 (EST)']],
      ['Europe/London', '2019-10-27T01:30', ['+01:00 (BST)', '+00:00 (GMT)']],
    ])('%s %s is refused without an offset, naming both candidates', (timeZone, local, both) => {
      const error = refusal({ local, timeZone });
      expect(error.field).toBe('embargo.local');
      expect(error.message).toMatch(/happens twice/);
      for (const candidate of both) expect(error.message).toContain(`${local}${candidate}`);
      expect(error.message).toContain('embargo.offset');
    });

    it.each([
      ['America/New_York', '2019-11-03T01:30', '-04:00', '2019-11-03T05:30:00.000Z'],
      ['America/New_York', '2019-11-03T01:30', '-05:00', '2019-11-03T06:30:00.000Z'],
      ['Europe/London', '2019-10-27T01:30', '+01:00', '2019-10-27T00:30:00.000Z'],
      ['Europe/London', '2019-10-27T01:30', '+00:00', '2019-10-27T01:30:00.000Z'],
    ])('%s %s at %s is the instant the offset names', (timeZone, local, offset, utc) => {
      expect(resolveEmbargo({ local, timeZone, offset }).instant.toISOString()).toBe(utc);
    });

    it('refuses an offset the local time never has, or a malformed one', () => {
      expect(refusal({ local: '2019-11-03T01:30', timeZone: 'America/New_York', offset: '+01:00' }).field).toBe(
        'embargo.offset',
      );
      expect(refusal({ local: '2019-11-03T01:30', timeZone: 'America/New_York', offset: 'EST' }).field).toBe(
        'embargo.offset',
      );
    });
  });
});

describe('requireLead', () => {
  const now = new Date('2030-01-01T12:00:00Z');
  const later = (seconds: number) => new Date(now.getTime() + seconds * 1000);

  it('refuses an embargo in the past, pointing to lift', () => {
    expect(() => requireLead(later(-1), now, 10)).toThrow(/in the past.*lift/);
  });

  it('refuses one closer than the minimum lead and accepts one at or beyond it', () => {
    expect(() => requireLead(later(9.9), now, 10)).toThrow(/at least 10s ahead/);
    expect(() => requireLead(later(10), now, 10)).not.toThrow();
    expect(() => requireLead(later(0), now, 0)).not.toThrow();
  });
});

describe('embargo formatting', () => {
  it('writes the local time with its abbreviation and the UTC time', () => {
    expect(embargoPhrase(new Date('2019-10-18T04:01:00Z'), 'America/New_York')).toBe(
      '00:01 EDT, Friday 18 October 2019 (04:01 UTC)',
    );
    expect(embargoPhrase(new Date('2019-12-18T05:01:00Z'), 'America/New_York')).toBe(
      '00:01 EST, Wednesday 18 December 2019 (05:01 UTC)',
    );
    expect(embargoPhrase(new Date('2019-07-17T23:01:00Z'), 'Europe/London')).toBe(
      '00:01 BST, Thursday 18 July 2019 (23:01 UTC)',
    );
    expect(embargoPhrase(new Date('2019-12-18T00:01:00Z'), 'Europe/London')).toBe(
      '00:01 GMT, Wednesday 18 December 2019 (00:01 UTC)',
    );
  });

  it('gives UTC, the release zone and every display zone, each with abbreviation and offset', () => {
    const described = describeEmbargo(new Date('2019-10-18T04:01:00Z'), 'America/New_York', [
      'Europe/London',
      'Europe/Brussels',
      'Asia/Seoul',
    ]);
    expect(described.utc).toBe('2019-10-18T04:01:00.000Z');
    expect(described.local).toMatchObject({
      local: '2019-10-18T00:01:00-04:00',
      abbreviation: 'EDT',
      offset: '-04:00',
    });
    expect(described.displayZones.map((z) => `${z.timeZone} ${z.text} ${z.offset}`)).toEqual([
      'Europe/London 05:01 BST, Friday 18 October 2019 +01:00',
      'Europe/Brussels 06:01 CEST, Friday 18 October 2019 +02:00',
      'Asia/Seoul 13:01 GMT+9, Friday 18 October 2019 +09:00',
    ]);
  });
});
