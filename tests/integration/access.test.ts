import Fastify from 'fastify';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MOUNTS, ROUTES, roleAllowed, type Access } from '../../src/api/access.js';
import { enforceAccess } from '../../src/api/guard.js';
import { hashPassword } from '../../src/auth/password.js';
import { createAccount } from '../../src/db/accounts.js';
import type { Role } from '../../src/states.js';
import { createSession } from '../../src/db/sessions.js';
import { createHarness, type Harness } from '../support/harness.js';

/**
 * Every route Fastify registered, called as anonymous, editor, operator and admin, each by
 * console session and by API token: each answer must be what src/api/access.ts says.
 */
let h: Harness;
const ROLES: Role[] = ['editor', 'operator', 'admin'];
const accounts = new Map<Role, number>();
const tokens = new Map<Role, string>();

beforeAll(async () => {
  h = await createHarness();
  const hash = await hashPassword('a long enough password');
  for (const role of ROLES) {
    accounts.set(role, (await createAccount(h.ctx.db, `${role}@example.org`, role, hash)).id);
    tokens.set(role, await h.tokenFor(role, `${role}-bot`));
  }
});
afterAll(async () => {
  await h?.close();
});

interface Caller {
  name: string;
  role?: Role;
  via?: 'session' | 'token';
}
const CALLERS: Caller[] = [
  { name: 'anonymous' },
  ...ROLES.flatMap((role) => (['session', 'token'] as const).map((via) => ({ name: `${role} by ${via}`, role, via }))),
];

type Outcome = 'passes' | '401' | '403' | 'sign-in' | '403 page';

/** What the table says a caller gets. */
function expected(access: Access, caller: Caller): Outcome {
  switch (access.kind) {
    case 'anyone':
      return 'passes';
    case 'api':
    case 'metrics': {
      const roles: Role[] = access.kind === 'api' ? access.roles : ['operator'];
      if (!caller.role) return '401';
      return roleAllowed({ roles }, caller.role) ? 'passes' : '403';
    }
    case 'page':
      if (!caller.role || caller.via !== 'session') return 'sign-in';
      return roleAllowed(access, caller.role) ? 'passes' : '403 page';
    case 'signing-in':
      // Nobody here has a sign-in in progress (tests/integration/security-accounts.test.ts has).
      return 'sign-in';
  }
}

/** What the guard did, read from the answer; anything that is not one of its refusals passed it. */
function observed(response: LightMyRequestResponse): Outcome {
  const location = String(response.headers.location ?? '');
  if ((response.statusCode === 302 || response.statusCode === 303) && location.startsWith('/console/login?next='))
    return 'sign-in';
  if (response.statusCode === 401 && response.headers['www-authenticate']) return '401';
  if (
    response.statusCode === 403 &&
    String(response.headers['content-type']).startsWith('application/json') &&
    response.json().error === 'forbidden'
  )
    return '403';
  if (response.statusCode === 403 && response.body.includes('<h1>Not allowed</h1>')) return '403 page';
  return 'passes';
}

/** Values that make a route's path concrete, chosen so that no call changes anything that matters. */
const SAMPLE: Record<string, string> = {
  id: '999999',
  listId: '999999',
  subscriberId: '999999',
  slug: 'no-such-release',
  filename: 'x.pdf',
  token: 'no-such-token',
  name: 'console.css',
  queueName: 'no-such-queue',
  jobId: 'no-such-job',
  queueStatus: 'failed',
  '*': 'x',
};
const concrete = (url: string) =>
  url.replace(/:(\w+)/g, (_, name: string) => SAMPLE[name] ?? 'x').replace(/\*$/, SAMPLE['*']!);

async function call(method: string, url: string, caller: Caller): Promise<LightMyRequestResponse> {
  const headers: Record<string, string> = {};
  if (caller.via === 'token') headers.authorization = `Bearer ${tokens.get(caller.role!)}`;
  if (caller.via === 'session') {
    // A fresh session for each call: some routes end sessions (sign out everywhere).
    const session = await createSession(h.ctx.db, accounts.get(caller.role!)!, 60);
    headers.cookie = `presslift_session=${session.token}`;
    headers['x-csrf-token'] = session.csrfToken;
  }
  const options: InjectOptions = { method: method as InjectOptions['method'], url: concrete(url), headers };
  if (!['GET', 'HEAD', 'OPTIONS', 'DELETE'].includes(method)) Object.assign(options, { payload: {} });
  return h.app.inject(options);
}

describe('the access table', () => {
  it('gives every registered route, and only those, a rule', () => {
    const registered = h.app.registeredRoutes.filter((r) => r.method !== 'HEAD');
    expect(registered.length).toBeGreaterThan(Object.keys(ROUTES).length); // Bull Board's routes come on top
    const keys = new Set(registered.map((r) => `${r.method} ${r.url}`));
    expect(Object.keys(ROUTES).filter((key) => !keys.has(key))).toEqual([]); // no rule for a route that does not exist
    for (const mount of Object.keys(MOUNTS)) expect(registered.some((r) => r.url.startsWith(mount))).toBe(true);
  });

  it('answers every route as the table says, for anonymous, editor, operator and admin, by session and by token', async () => {
    const routes = h.app.registeredRoutes.filter((r) => r.method !== 'HEAD');
    const wrong: string[] = [];
    const seen: Record<string, number> = {};
    for (const route of routes) {
      for (const caller of CALLERS) {
        const response = await call(route.method, route.url, caller);
        const [want, got] = [expected(route.access, caller), observed(response)];
        seen[got] = (seen[got] ?? 0) + 1;
        if (want !== got)
          wrong.push(
            `${route.method} ${route.url} as ${caller.name}: expected ${want}, got ${got} (${response.statusCode})`,
          );
      }
    }
    expect(wrong).toEqual([]);
    // Every kind of answer happened, so none of the checks above is vacuous.
    expect(Object.keys(seen).sort()).toEqual(['401', '403', '403 page', 'passes', 'sign-in']);
    // Nothing was paused by the calls to pause and resume in the end.
    expect(await h.ctx.queues.send.isPaused()).toBe(false);
  });

  it('refuses to start with a route the table does not name', async () => {
    const app = Fastify();
    enforceAccess(app, { db: h.ctx.db, config: h.config, refusalPage: () => '', expiredFormPage: () => '' });
    app.get('/healthz', async () => ({ ok: true }));
    expect(() => app.post('/api/releases/:id/publish-now', async () => ({}))).toThrow(
      'POST /api/releases/:id/publish-now is not in the access table (src/api/access.ts)',
    );
    await app.close();
  });
});

describe('what each role may do to a release', () => {
  it('lets an operator read, retry and pause, and nothing that changes, lifts or mails a release', async () => {
    const list = (await h.api('POST', '/api/lists', { name: 'Matrix' })).json.id;
    const created = await h.api('POST', '/api/releases', {
      title: 'Matrix',
      body: 'text',
      listIds: [list],
      embargo: { at: new Date(Date.now() + 3_600_000).toISOString() },
    });
    const id = created.json.id as number;
    const operator = { authorization: `Bearer ${tokens.get('operator')}` };
    const asOperator = (method: InjectOptions['method'], url: string, payload?: object) =>
      h.app.inject({ method, url, headers: operator, ...(payload ? { payload } : {}) });
    for (const [method, url, payload] of [
      [
        'POST',
        '/api/releases',
        { title: 'x', body: 'x', listIds: [list], embargo: { at: new Date(Date.now() + 3_600_000).toISOString() } },
      ],
      ['PATCH', `/api/releases/${id}`, { title: 'Changed by an operator' }],
      ['POST', `/api/releases/${id}/schedule`],
      ['POST', `/api/releases/${id}/lift`, { reason: 'operator says so' }],
      ['POST', `/api/releases/${id}/cancel`, { reason: 'operator says so' }],
      ['POST', `/api/releases/${id}/test-send`, { email: 'operator@example.org' }],
    ] as Array<[InjectOptions['method'], string, object | undefined]>) {
      const response = await asOperator(method, url, payload);
      expect([url, response.statusCode]).toEqual([url, 403]);
    }
    const release = await h.ctx.db.selectFrom('releases').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    expect([release.status, release.title, release.lift_requested_at]).toEqual(['draft', 'Matrix', null]);
    expect(await h.ctx.db.selectFrom('releases').select('id').execute()).toHaveLength(1);
    expect((await asOperator('GET', `/api/releases/${id}`)).statusCode).toBe(200);
    expect((await asOperator('POST', `/api/releases/${id}/retry`)).statusCode).toBe(409); // allowed; nothing has failed yet
  });
});
