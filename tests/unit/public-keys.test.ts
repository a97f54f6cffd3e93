import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { PUBLIC_KEYS } from '../../src/public-keys.js';

const tracked = execFileSync('git', ['ls-files', '-z'], { encoding: 'utf8' })
  .split('\0')
  .filter((file) => /\.(ts|js|mjs|md|ya?ml|json|sh|env|txt)$|Dockerfile|run$/.test(file));

/**
 * Every value the repository writes down as a key: after SECRET_KEY / SECRET_KEYS_PREVIOUS (in
 * env, compose or shell syntax), and any long literal on a line that speaks of a secret or a key.
 */
function keysWrittenDown(): Array<{ file: string; key: string }> {
  const found: Array<{ file: string; key: string }> = [];
  for (const file of tracked) {
    if (file === 'package-lock.json') continue;
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      for (const match of line.matchAll(
        /SECRET_KEY(?:S_PREVIOUS)?\s*[:=]\s*["'`]?(?:\$\{SECRET_KEY:-)?([A-Za-z0-9+/=_-]{32,})/g,
      ))
        found.push({ file, key: match[1]! });
      if (/secret|key/i.test(line)) {
        // Not a path: a key does not start with a slash.
        for (const match of line.matchAll(/['"`]([A-Za-z0-9+=_-][A-Za-z0-9+/=_-]{31,})['"`]/g))
          found.push({ file, key: match[1]! });
      }
    }
  }
  return found;
}

describe('keys that appear in the repository', () => {
  it('are all refused as SECRET_KEY and SECRET_KEYS_PREVIOUS', () => {
    const keys = keysWrittenDown();
    expect(keys.length).toBeGreaterThan(0);
    // The old compose default and the keys scripts and tests used to carry are on the list.
    for (const key of PUBLIC_KEYS) expect(() => loadConfig({ SECRET_KEY: key })).toThrow(/this key is public/);
    const accepted = keys.filter(({ key }) => {
      try {
        loadConfig({ SECRET_KEY: key });
        return true;
      } catch {
        return false;
      }
    });
    expect(accepted).toEqual([]);
  });

  it('are not in the compose file, which requires SECRET_KEY instead', () => {
    const compose = readFileSync('docker-compose.yml', 'utf8');
    expect(compose).toMatch(/SECRET_KEY: \$\{SECRET_KEY:\?[^}]+\}/);
    expect(compose).not.toMatch(/SECRET_KEY:-/);
  });
});
