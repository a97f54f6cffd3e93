import cookie from '@fastify/cookie';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import { DOCS_PATH } from './docs.js';
import { BOARD_PATH } from './queue-board.js';
import { fallbackStore } from './rate-limit-store.js';
import type { Config } from '../config.js';
import type { Context } from '../context.js';

/** Scripts and styles come only from /assets; nothing inline, nothing from elsewhere. */
const CONSOLE_CSP = {
  defaultSrc: ["'self'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  imgSrc: ["'self'", 'data:'],
  fontSrc: ["'self'"],
  connectSrc: ["'self'"],
  frameSrc: ["'self'"],
  frameAncestors: ["'self'"],
  formAction: ["'self'"],
  baseUri: ["'self'"],
  objectSrc: ["'none'"],
};

/**
 * The policy of an email preview document: the email's own inline styles and remote images may
 * load, nothing may run, and the sandbox gives it an opaque origin even though we serve it.
 */
export const PREVIEW_CSP =
  "default-src 'none'; style-src 'unsafe-inline'; img-src https: http: data:; font-src https: data:; frame-ancestors 'self'; sandbox";

/**
 * Bull Board's and Swagger UI's bundled pages set inline styles; they keep every other rule of the
 * console's policy (scripts only from this origin, no framing by others).
 */
const BOARD_CSP = Object.entries({ ...CONSOLE_CSP, styleSrc: ["'self'", "'unsafe-inline'"] })
  .map(([name, values]) => `${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} ${values.join(' ')}`)
  .join('; ');

/** The per-client limit of the public pages (newsroom, files, feed, unsubscribe), as route config. */
export const publicRateLimit = (config: Pick<Config, 'PUBLIC_REQUESTS_PER_MINUTE'>) => ({
  rateLimit: { max: config.PUBLIC_REQUESTS_PER_MINUTE, timeWindow: 60_000 },
});

/**
 * Cookies, security headers, no caching unless a route allows it, and the rate limiter public
 * routes use, for every route.
 */
export async function registerSecurity(app: FastifyInstance, ctx: Context): Promise<void> {
  const https = ctx.config.PUBLIC_URL.startsWith('https:');
  await app.register(cookie);
  await app.register(helmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: { ...CONSOLE_CSP, ...(https ? { upgradeInsecureRequests: [] } : {}) },
    },
    hsts: https ? { maxAge: 180 * 86_400 } : false,
    referrerPolicy: { policy: 'same-origin' },
  });
  app.addHook('onSend', async (request, reply) => {
    if (request.url.startsWith(BOARD_PATH) || request.url.startsWith(DOCS_PATH))
      reply.header('Content-Security-Policy', BOARD_CSP);
    // API answers, console pages and previews carry embargoed text: no browser or proxy may keep
    // them. Only routes that set their own policy (public pages, assets) are cached.
    if (!reply.hasHeader('cache-control')) reply.header('Cache-Control', 'no-store');
  });
  await app.register(rateLimit, {
    global: false,
    // Counted in Redis, per installation and per test harness next to the queues; in this
    // process when Redis does not answer, so the limit never switches off.
    store: fallbackStore(ctx.redis, `${ctx.config.QUEUE_PREFIX}:rate-limit:`, ctx.log),
  });
}
