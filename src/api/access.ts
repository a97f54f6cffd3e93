import { ROLES, type Role } from '../states.js';

/**
 * Who may call what: every route Presslift serves, written once. The app attaches each route's
 * guard from this table as Fastify registers the route (src/api/guard.ts), whatever the style the
 * route was written in, and refuses to start when a route is missing from it;
 * tests/integration/access.test.ts calls every registered route as anonymous, editor, operator and
 * admin, by session and by token, and checks each answer against it.
 *
 * The roles: editors write releases and manage lists, subscribers and suppressions; operators
 * watch and keep sending healthy (read releases, retry failed deliveries, pause and resume, the
 * read-only queue board); admins may do everything, including accounts, tokens and the managing
 * board. No role but editor (and admin) can create, change, schedule, lift or test-send a release.
 */
export type Access =
  /** No credential needed: the public newsroom, unsubscribe pages, probes, sign-in. */
  | { kind: 'anyone' }
  /** An API token or a console session of one of the roles (admins always); 401 or 403 otherwise, as JSON. */
  | { kind: 'api'; roles: Role[] }
  /** A console page or form for people: a signed-in session of one of the roles; anyone else is sent to sign in. */
  | { kind: 'page'; roles: Role[] }
  /** The sign-in's second step (code or enrolment): the cookie of a sign-in whose password was right. */
  | { kind: 'signing-in' }
  /** Prometheus: the METRICS_TOKEN bearer, or an operator's (or admin's) token or session. */
  | { kind: 'metrics' };

const anyone: Access = { kind: 'anyone' };
const api = (...roles: Role[]): Access => ({ kind: 'api', roles });
const page = (...roles: Role[]): Access => ({ kind: 'page', roles });
const signingIn: Access = { kind: 'signing-in' };
const metrics: Access = { kind: 'metrics' };
/** Every signed-in person, whatever their role (their own account's settings). */
const ANY_ROLE: Role[] = [...ROLES];

/** `METHOD /pattern` exactly as the route is registered (HEAD follows GET). */
export const ROUTES: Record<string, Access> = {
  // Probes and metrics.
  'GET /healthz': anyone,
  'GET /readyz': anyone,
  'GET /metrics': metrics,

  // The public newsroom and the journalists' own links.
  'GET /releases': anyone,
  'GET /releases/feed.xml': anyone,
  'GET /releases/:slug': anyone,
  'GET /releases/:slug/files/:id/:filename': anyone,
  'GET /files/:id': anyone,
  'GET /files/:id/:filename': anyone,
  'GET /unsubscribe/:token': anyone,
  'POST /unsubscribe/:token': anyone,
  'POST /unsubscribe/:token/resubscribe': anyone,
  'GET /resubscribe/:token': anyone,
  // Providers' bounce and complaint webhooks: no staff credential; each request proves itself by its
  // provider's signature or credentials (src/api/webhooks.ts), and a bad proof gets 401.
  'POST /webhooks/ses': anyone,
  'POST /webhooks/postmark': anyone,
  'POST /webhooks/mailgun': anyone,
  'POST /resubscribe/:token': anyone,
  // Journalists' own pages: sign-up (double opt-in), the signed preference page, a change of
  // address confirmed at the new one, and the application for advance copies. The signed token in
  // the path is the authority; nothing else is needed.
  'GET /subscribe': anyone,
  'POST /subscribe': anyone,
  'GET /subscribe/confirm/:token': anyone,
  'POST /subscribe/confirm/:token': anyone,
  'GET /preferences/:token': anyone,
  'POST /preferences/:token': anyone,
  'POST /preferences/:token/email': anyone,
  'POST /preferences/:token/access': anyone,
  'GET /email-change/:id/:token': anyone,
  'POST /email-change/:id/:token': anyone,

  // Releases: editors write, operators read.
  'GET /api/releases': api('editor', 'operator'),
  'POST /api/releases': api('editor'),
  'GET /api/releases/:id': api('editor', 'operator'),
  'PATCH /api/releases/:id': api('editor'),
  'POST /api/releases/:id/schedule': api('editor'),
  'POST /api/releases/:id/unschedule': api('editor'),
  'POST /api/releases/:id/lift': api('editor'),
  'POST /api/releases/:id/cancel': api('editor'),
  'GET /api/releases/:id/audit': api('editor', 'operator'),
  'GET /api/releases/:id/deliveries': api('editor', 'operator'),
  // Changes holders were told of (notices, corrections), and who opened the embargoed files with whose key.
  'GET /api/releases/:id/changes': api('editor', 'operator'),
  'GET /api/releases/:id/file-access': api('editor', 'operator'),
  'POST /api/releases/:id/corrections': api('editor'),
  'GET /api/releases/:id/preview': api('editor', 'operator'),
  'GET /api/releases/:id/attachments': api('editor', 'operator'),
  'POST /api/releases/:id/attachments': api('editor'),
  'POST /api/releases/:id/test-send': api('editor'),
  'POST /api/releases/:id/retry': api('operator'),

  // Lists, subscribers, suppressions: editors.
  'GET /api/lists': api('editor'),
  'POST /api/lists': api('editor'),
  'POST /api/lists/:listId/subscribers': api('editor'),
  'DELETE /api/lists/:listId/subscribers/:subscriberId': api('editor'),
  'POST /api/lists/:listId/subscribers/import': api('editor'),
  'PATCH /api/lists/:listId': api('editor'),
  // People: search, export and erasure, embargo access requests and bars.
  'GET /api/subscribers': api('editor'),
  'GET /api/subscribers/:id/export': api('editor'),
  'DELETE /api/subscribers/:id': api('editor'),
  'GET /api/access-requests': api('editor'),
  'POST /api/access-requests/:id/decision': api('editor'),
  'GET /api/bars': api('editor'),
  'POST /api/bars': api('editor'),
  'DELETE /api/bars/:id': api('editor'),
  'GET /api/suppressions': api('editor'),
  'POST /api/suppressions': api('editor'),
  // Lifting a suppression overrides a bounce or a complaint: admins only.
  'DELETE /api/suppressions/:email': api('admin'),

  // Operations: operators watch, pause and resume.
  'GET /api/ops/status': api('operator'),
  'POST /api/ops/pause': api('operator'),
  'POST /api/ops/resume': api('operator'),
  'GET /admin/queues': api('operator'),
  'GET /api/ops/alerts': api('operator'),

  // Integration webhooks: admins.
  'GET /api/webhooks': api('admin'),
  'POST /api/webhooks': api('admin'),
  'DELETE /api/webhooks/:id': api('admin'),
  'GET /api/webhooks/:id/deliveries': api('admin'),

  // Accounts and tokens: admins.
  'GET /api/accounts': api('admin'),
  'POST /api/accounts': api('admin'),
  'POST /api/accounts/:id/disable': api('admin'),
  'POST /api/accounts/:id/enable': api('admin'),
  'DELETE /api/accounts/:id/two-factor': api('admin'),
  'GET /api/tokens': api('admin'),
  'POST /api/tokens': api('admin'),
  'DELETE /api/tokens/:id': api('admin'),

  // The API's contract (OpenAPI 3) and its reference page: the routes and shapes the source already
  // publishes, no data, so no credential; the page's own files are under MOUNTS.
  'GET /api/openapi.json': anyone,

  // The console: its assets and sign-in are public; pages need a session.
  'GET /': anyone,
  'GET /assets/:name': anyone,
  'GET /console/login': anyone,
  'POST /console/login': anyone,
  'GET /console/login/two-factor': signingIn,
  'POST /console/login/two-factor': signingIn,
  'POST /console/logout': anyone,
  'GET /console/setup': anyone,
  'POST /console/setup': anyone,
  'GET /console/reset': anyone,
  'POST /console/reset': anyone,
  'GET /console/reset/:token': anyone,
  'POST /console/reset/:token': anyone,
  'GET /console': page(...ANY_ROLE),
  'GET /console/releases': page('editor', 'operator'),
  'GET /console/releases/new': page('editor'),
  'GET /console/releases/:id': page('editor', 'operator'),
  'GET /console/releases/:id/edit': page('editor'),
  'GET /console/releases/:id/preview': page('editor', 'operator'),
  'GET /console/operations': page('operator'),
  'GET /console/webhooks': page('admin'),
  'GET /console/embargo-check': api('editor'),
  'POST /console/preview': api('editor'),
  'GET /console/lists': page('editor'),
  'GET /console/lists/:id': page('editor'),
  'GET /console/suppressions': page('editor'),
  'GET /console/subscribers': page('editor'),
  'GET /console/access-requests': page('editor'),
  'GET /console/accounts': page('admin'),
  'GET /console/account': page(...ANY_ROLE),
  'POST /console/account/password': page(...ANY_ROLE),
  'POST /console/account/sign-out-everywhere': page(...ANY_ROLE),
  'POST /console/account/two-factor/start': page(...ANY_ROLE),
  'POST /console/account/two-factor/confirm': page(...ANY_ROLE),
  'POST /console/account/two-factor/disable': page(...ANY_ROLE),
  'POST /console/account/recovery-codes': page(...ANY_ROLE),
};

/**
 * Routes a library registers under a path: Bull Board's (pages, its JSON API, its static files) and the API reference
 * page's.
 */
export const MOUNTS: Record<string, Access> = {
  // Swagger UI (@fastify/swagger-ui): its page, its copy of the document and its static files.
  '/api/docs/': anyone,
  '/admin/queues/view/': api('operator'),
  '/admin/queues/manage/': api('admin'),
};

/** The rule for a route, or undefined when the table does not name it. */
export function accessOf(method: string, url: string): Access | undefined {
  const key = `${method === 'HEAD' ? 'GET' : method} ${url}`;
  if (ROUTES[key]) return ROUTES[key];
  const withSlash = url.endsWith('/') ? url : `${url}/`;
  const mount = Object.keys(MOUNTS).find((prefix) => withSlash.startsWith(prefix));
  return mount ? MOUNTS[mount] : undefined;
}

/** Whether someone of this role passes a rule that names roles (admins pass every one). */
export function roleAllowed(access: { roles: Role[] }, role: Role): boolean {
  return role === 'admin' || access.roles.includes(role);
}
