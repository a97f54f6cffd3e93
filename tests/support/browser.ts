import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { describe } from 'vitest';

const LOOKED_AT = [process.env.CHROMIUM_PATH, '/usr/bin/chromium'].filter((path): path is string => Boolean(path));

/** Debian's Chromium, which the browser tests drive; undefined on a machine without it. */
export const chromiumPath = LOOKED_AT.find((path) => existsSync(path));

/** What a person sees, once per run, when the browser tests cannot run here (tests/support/browser-check.ts). */
export const MISSING_BROWSER = `browser tests skipped: no Chromium at ${LOOKED_AT.join(' or ')}; install it with \`sudo apt-get install -y chromium\` (or set CHROMIUM_PATH)`;

/** A describe block that needs the browser: skipped where there is none (CI fails the run instead). */
export const describeInBrowser = describe.skipIf(!chromiumPath);

/** Debian's Chromium, headless, with everything that would reach the network switched off. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
