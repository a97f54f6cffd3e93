import { mkdir } from 'node:fs/promises';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { personalise } from '../../src/render/personalise.js';
import { chromiumPath, describeInBrowser, launchChromium } from '../support/browser.js';
import { compileSample, sampleRecipient } from '../../scripts/lib/sample-email.js';

const SCREENSHOTS = 'test-output/screenshots';
const WIDE_IMAGE =
  '<svg xmlns="http://www.w3.org/2000/svg" width="1600" height="900"><rect width="1600" height="900" fill="#9fb3c8"/><circle cx="800" cy="450" r="260" fill="#486581"/></svg>';
const LOGO =
  '<svg xmlns="http://www.w3.org/2000/svg" width="360" height="80"><rect width="80" height="80" rx="12" fill="#0f2742"/><text x="40" y="54" font-size="40" font-family="Georgia" fill="#fff" text-anchor="middle">N</text><text x="100" y="52" font-size="30" font-family="Georgia" fill="#0f2742">Northbridge</text></svg>';
let browser: Browser;
let html: string;
let text: string;

beforeAll(async () => {
  const copy = personalise(await compileSample(), sampleRecipient);
  html = copy.html;
  text = copy.text;
  await mkdir(SCREENSHOTS, { recursive: true });
  if (!chromiumPath) return;
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
});

describe('the release email', () => {
  describeInBrowser('in a browser', () => {
    for (const width of [375, 640]) {
      it(`reads at ${width} px without horizontal scrolling`, async () => {
        const page = await browser.newPage({ viewport: { width, height: 900 } });
        // Nothing leaves the machine: the logo is answered with a logo, every other image with a
        // 1600×900 picture, wider than any phone.
        await page.route('**/*', (route) =>
          route.fulfill({
            contentType: 'image/svg+xml',
            body: route.request().url().includes('logo') ? LOGO : WIDE_IMAGE,
          }),
        );
        await page.setContent(html, { waitUntil: 'load' });
        // A string, because the test's TypeScript knows no DOM; it runs in the page.
        const { scrollWidth, viewport } = await page.evaluate<{ scrollWidth: number; viewport: number }>(
          '({ scrollWidth: document.documentElement.scrollWidth, viewport: window.innerWidth })',
        );
        expect(scrollWidth).toBeLessThanOrEqual(viewport);
        for (const visible of [
          'EMBARGOED',
          'Quantum sensor maps brain activity',
          'Dear Zoë Müller',
          'Media contact',
          'Dr. Lena Fischer',
          'okafor-et-al-2030',
          'Unsubscribe',
        ]) {
          expect(await page.getByText(visible, { exact: false }).first().isVisible()).toBe(true);
        }
        await page.screenshot({ path: `${SCREENSHOTS}/email-${width}.png`, fullPage: true });
        await page.close();
      });
    }
  });

  it('reads in a plain-text client, with every link spelled out', () => {
    expect(text).toContain('Quantum sensor maps brain activity');
    expect(text).toContain('EMBARGOED — NOT FOR PUBLICATION UNTIL 00:01 EDT, Friday 18 October 2030 (04:01 UTC)');
    expect(text).toContain('Do not publish, broadcast or post it');
    expect(text).toContain('Dear Zoë Müller,');
    expect(text).toContain(
      '- okafor-et-al-2030-quantum-magnetometry.pdf (2.4 MB): https://news.example.org/releases/quantum/files/1/',
    );
    expect(text).toMatch(
      /Media contact\nDr\. Lena Fischer, Media Relations\nlena\.fischer@example\.org\n\+1 \(617\) 555-0142/,
    );
    expect(text).toContain(`Unsubscribe: ${sampleRecipient.unsubscribe_url}`);
    expect(text).not.toMatch(/<[a-z]/i);
  });
});
