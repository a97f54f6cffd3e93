import { describe, expect, it } from 'vitest';
import { EmbargoInputError, embargoPhrase, resolveEmbargo } from '../../src/embargo/time';

describe('resolveEmbargo', () => {
  it('reads an instant with an offset, and a local time in an IANA zone', () => {
    expect(resolveEmbargo({ at: '2019-10-18T00:01:00-04:00' }).instant.toISOString()).toBe('2019-10-18T04:01:00.000Z');
    expect(resolveEmbargo({ local: '2019-10-18T00:01', timeZone: 'America/New_York' })).toEqual({
      instant: new Date('2019-10-18T04:01:00Z'),
      timeZone: 'America/New_York',
    });
  });

  it('refuses an unknown zone and an instant without an offset, naming the field', () => {
    expect(() => resolveEmbargo({ local: '2019-10-18T00:01', timeZone: 'Europe/Atlantis' })).toThrow(EmbargoInputError);
    try {
      resolveEmbargo({ at: '2019-10-18T00:01:00' });
    } catch (error) {
      expect((error as EmbargoInputError).field).toBe('embargo.at');
    }
  });
});

describe('embargoPhrase', () => {
  it('writes the local time with its abbreviation and the UTC time', () => {
    expect(embargoPhrase(new Date('2019-10-18T04:01:00Z'), 'America/New_York')).toBe('00:01 EDT, Friday 18 October 2019 (04:01 UTC)');
  });
});
