import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

describe('loadConfig', () => {
  it('gives working defaults for a fresh machine', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ PORT: 3000, QUEUE_PREFIX: '{presslift}', PUBLIC_URL: 'http://localhost:3000' });
    expect(config.SMTP_URL).toBeUndefined();
    expect(config.DISPLAY_TIME_ZONES).toContain('Europe/London');
  });

  it('derives PUBLIC_URL from PORT and trims a trailing slash from an explicit one', () => {
    expect(loadConfig({ PORT: '8080' }).PUBLIC_URL).toBe('http://localhost:8080');
    expect(loadConfig({ PUBLIC_URL: 'https://news.example.org/' }).PUBLIC_URL).toBe('https://news.example.org');
  });

  it('refuses a bad value in one line naming the variable', () => {
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(ConfigError);
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(/^invalid configuration: PORT: /);
    expect(() => loadConfig({ SMTP_URL: 'not a url' })).toThrow(/SMTP_URL/);
    expect(() => loadConfig({ SECRET_KEY: 'short' })).toThrow(/SECRET_KEY/);
  });

  it('takes DKIM all or nothing, the key inline or from a file', () => {
    expect(loadConfig({}).DKIM_PRIVATE_KEY).toBeUndefined();
    expect(() => loadConfig({ DKIM_DOMAIN: 'example.org' })).toThrow(/DKIM_DOMAIN, DKIM_SELECTOR and DKIM_PRIVATE_KEY/);
    const dkim = { DKIM_DOMAIN: 'example.org', DKIM_SELECTOR: 's1' };
    expect(loadConfig({ ...dkim, DKIM_PRIVATE_KEY: 'PEM' }).DKIM_PRIVATE_KEY).toBe('PEM');
    expect(loadConfig({ ...dkim, DKIM_PRIVATE_KEY_FILE: 'package.json' }).DKIM_PRIVATE_KEY).toContain('"presslift"');
    expect(() => loadConfig({ ...dkim, DKIM_PRIVATE_KEY_FILE: '/no/such/key.pem' })).toThrow(
      /^invalid configuration: DKIM_PRIVATE_KEY_FILE: /,
    );
  });

  it('reads Redis Cluster seeds and alert addresses as lists, refusing a malformed one by name', () => {
    expect(loadConfig({}).REDIS_CLUSTER_NODES).toBeUndefined();
    expect(loadConfig({ REDIS_CLUSTER_NODES: '10.0.0.1:7000, redis-b:7001,' }).REDIS_CLUSTER_NODES).toEqual([
      { host: '10.0.0.1', port: 7000 },
      { host: 'redis-b', port: 7001 },
    ]);
    expect(() => loadConfig({ REDIS_CLUSTER_NODES: 'redis-a' })).toThrow(
      /^invalid configuration: REDIS_CLUSTER_NODES\.0: each node is host:port/,
    );
    expect(loadConfig({ ALERT_EMAILS: 'ops@example.org, oncall@example.org' }).ALERT_EMAILS).toEqual([
      'ops@example.org',
      'oncall@example.org',
    ]);
    expect(() => loadConfig({ ALERT_EMAILS: 'ops@example.org, nobody' })).toThrow(
      /^invalid configuration: ALERT_EMAILS\.1: /,
    );
    expect(loadConfig({})).toMatchObject({
      RECONCILE_INTERVAL_SECONDS: 15,
      DELIVERY_RETENTION_DAYS: 400,
      LIFT_LATE_ALERT_SECONDS: 60,
      ALERT_MAX_PER_HOUR: 20,
    });
  });

  it('reads DOMAIN_LIMITS as a rate and/or a cap on messages in flight per domain, naming a bad entry', () => {
    expect(loadConfig({}).DOMAIN_LIMITS).toEqual({});
    expect(
      loadConfig({ DOMAIN_LIMITS: 'gmail.com=20/s, Outlook.com=600/m+4c,small.example=2c,slow.example=36/h' })
        .DOMAIN_LIMITS,
    ).toEqual({
      'gmail.com': { perSecond: 20, concurrency: null },
      'outlook.com': { perSecond: 10, concurrency: 4 },
      'small.example': { perSecond: null, concurrency: 2 },
      'slow.example': { perSecond: 0.01, concurrency: null },
    });
    for (const bad of ['gmail.com', 'gmail.com=fast', 'gmail.com=20', 'gmail.com=0/s', 'gmail.com=20/d', '=20/s']) {
      expect(() => loadConfig({ DOMAIN_LIMITS: bad }), bad).toThrow(/^invalid configuration: DOMAIN_LIMITS: /);
    }
  });

  it('takes the Postmark webhook credentials together', () => {
    expect(() => loadConfig({ POSTMARK_WEBHOOK_USER: 'pm' })).toThrow(
      /POSTMARK_WEBHOOK_USER and POSTMARK_WEBHOOK_PASSWORD go together/,
    );
    expect(loadConfig({ SES_TOPIC_ARNS: 'arn:a, arn:b' }).SES_TOPIC_ARNS).toEqual(['arn:a', 'arn:b']);
  });
});
