import type { FastifyInstance } from 'fastify';
import type { Config } from '../config.js';
import { createMailer, type Mailer } from '../mail/transport.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The API process's mailer (test copies, password resets, confirmations), opened on first use. */
    mailer(): Mailer;
  }
}

/** One mailer for every route of the app, closed with it. */
export function decorateMailer(app: FastifyInstance, config: Config): void {
  let mailer: Mailer | undefined;
  app.decorate('mailer', () => (mailer ??= createMailer(config)));
  app.addHook('onClose', async () => mailer?.close());
}
