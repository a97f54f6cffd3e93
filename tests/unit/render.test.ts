import { describe, expect, it } from 'vitest';
import { compileEmail, mjmlCompileCount } from '../../src/render/compile';
import { personalise } from '../../src/render/personalise';
import { signUnsubscribeToken, verifyUnsubscribeToken } from '../../src/mail/unsubscribe-token';

const content = {
  title: 'Results <embargoed> & more',
  summary: 'Summary',
  bodyMarkdown: 'Hello **world** <script>alert(1)</script> <a href="javascript:alert(2)">x</a> <b onclick="x()">b</b>',
  embargoAt: new Date('2019-10-18T04:01:00Z'),
  embargoTimeZone: 'America/New_York',
  showEmbargoLine: true,
};
const org = { name: 'Org', address: '1 Street' };

describe('compileEmail and personalise', () => {
  it('compiles once and fills each recipient in, escaped for HTML', async () => {
    const before = mjmlCompileCount();
    const compiled = await compileEmail(content, org);
    expect(mjmlCompileCount()).toBe(before + 1);
    const copy = personalise(compiled, { name: '<b>Eve</b> & "Co"', email: 'e@x.org', list_name: 'Science', unsubscribe_url: 'https://x.org/u/1?a=1&b=2' });
    expect(copy.html).toContain('Dear &lt;b&gt;Eve&lt;/b&gt; &amp; &quot;Co&quot;,');
    expect(copy.html).toContain('href="https://x.org/u/1?a=1&amp;b=2"');
    expect(copy.text).toContain('Dear <b>Eve</b> & "Co",');
    expect(copy.text).toContain('Unsubscribe: https://x.org/u/1?a=1&b=2');
    expect(copy.html).toContain('Results &lt;embargoed&gt; &amp; more');
    expect(copy.html).toContain('Embargoed until 00:01 EDT, Friday 18 October 2019 (04:01 UTC)');
    expect(copy.html).not.toMatch(/<script|javascript:|onclick/);
    expect(copy.html).not.toMatch(/[\uE000\uE001]/);
  });

  it('does not let staff text forge a recipient slot', async () => {
    const compiled = await compileEmail({ ...content, title: 'Hi \uE000email\uE001', bodyMarkdown: 'x \uE000unsubscribe_url\uE001' }, org);
    const copy = personalise(compiled, { name: 'A', email: 'secret@x.org', list_name: 'L', unsubscribe_url: 'https://u' });
    expect(copy.subject).toBe('Hi email');
    expect(copy.html).not.toContain('secret@x.org');
  });
});

describe('unsubscribe tokens', () => {
  it('verify for the pair they were made for and refuse any change', () => {
    const token = signUnsubscribeToken('k'.repeat(32), 41, 7);
    expect(verifyUnsubscribeToken('k'.repeat(32), token)).toEqual({ subscriberId: 41, listId: 7 });
    expect(verifyUnsubscribeToken('k'.repeat(32), token.replace(/^41\./, '42.'))).toBeNull();
    expect(verifyUnsubscribeToken('other'.repeat(8), token)).toBeNull();
    expect(verifyUnsubscribeToken('k'.repeat(32), 'garbage')).toBeNull();
  });
});
