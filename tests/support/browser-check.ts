import { chromiumPath, MISSING_BROWSER } from './browser.js';

/**
 * Vitest's global setup: on a machine without Chromium the browser tests skip, with one line that
 * says what is missing and how to install it. In CI (CI=true) a missing browser fails the run, so
 * a green CI always includes them.
 */
export default function checkBrowser(): void {
  if (chromiumPath) return;
  if (process.env.CI === 'true')
    throw new Error(MISSING_BROWSER.replace('browser tests skipped', 'CI cannot run the browser tests'));
  console.warn(MISSING_BROWSER);
}
