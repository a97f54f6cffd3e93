import type { FastifyReply } from 'fastify';
import type { MailEvent, VerpReader } from '../mail/feedback.js';
import { messageSettings } from '../mail/message.js';
import { mailgunEvents, mailgunSignature, mailgunSigned, MAILGUN_MAX_AGE_SECONDS } from '../mail/providers/mailgun.js';
import { postmarkAuthorized, postmarkEvents } from '../mail/providers/postmark.js';
import { sesEvents } from '../mail/providers/ses.js';
import { asSnsMessage, fetchText, isSnsUrl, SnsVerifier, type FetchText } from '../mail/providers/sns.js';
import { verpDelivery } from '../mail/verp.js';
import { applyMailEvent, type Outcome } from '../pipeline/mail-events.js';
import { HttpError } from './errors.js';
import type { RoutesPlugin } from './plugin.js';

export interface WebhookOptions {
  /** How SNS signing certificates and subscription confirmations are fetched (tests stand in for AWS). */
  fetchText?: FetchText;
}

/**
 * Providers' bounce and complaint webhooks: POST /webhooks/ses (through SNS), /webhooks/postmark and
 * /webhooks/mailgun. No staff sign-in: each request proves itself by its provider's signature or
 * credentials, and one that does not gets 401 before anything is read into the database. Each is
 * mapped to the same events as inbound mail and applied by the same module. A provider whose
 * settings are absent answers 404. Events whose delivery is not recorded yet get 503, so the
 * provider retries.
 */
export const providerWebhookRoutes: RoutesPlugin<{ webhooks?: WebhookOptions }> = async (
  app,
  { ctx, webhooks: options = {} },
) => {
  const { config } = ctx;
  const log = ctx.log.child({ role: 'webhooks' });
  const { bounceDomain } = messageSettings(config, ctx.keys);
  const verp: VerpReader = (address) => (address ? verpDelivery(ctx.keys, address, bounceDomain) : null);
  const sns = new SnsVerifier(options.fetchText ?? fetchText);
  const fetchUrl = options.fetchText ?? fetchText;

  const notConfigured = (provider: string) =>
    new HttpError(404, 'not_found', `the ${provider} webhook is not configured`);
  const refused = (message: string) => new HttpError(401, 'unauthorized', message);
  const malformed = (message: string) => new HttpError(400, 'invalid_input', message, { field: 'body' });

  const applyAll = async (reply: FastifyReply, events: MailEvent[]) => {
    const outcomes: Outcome[] = [];
    for (const event of events) outcomes.push(await applyMailEvent(ctx, event));
    log.info(
      {
        events: events.map((e, i) => ({ ...e.target, source: e.source, kind: e.feedback.kind, outcome: outcomes[i] })),
      },
      'webhook applied',
    );
    if (outcomes.includes('later')) {
      return reply
        .status(503)
        .header('Retry-After', '60')
        .send({ error: 'try_later', message: 'a delivery it names is not recorded yet', details: {} });
    }
    return { events: events.length, applied: outcomes.filter((o) => o === 'applied').length };
  };

  app.register(async (scope) => {
    // SNS posts JSON as text/plain; every provider's body is read as JSON whatever its type says.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'string', bodyLimit: 512 * 1024 }, (_request, body, done) => {
      try {
        done(null, JSON.parse(body as string));
      } catch {
        done(malformed('body: is not JSON'), undefined);
      }
    });

    scope.post('/webhooks/ses', async (request, reply) => {
      if (config.SES_TOPIC_ARNS.length === 0) throw notConfigured('SES');
      const message = asSnsMessage(request.body);
      if (!message) throw malformed('body: is not an SNS message');
      if (!(await sns.verify(message))) throw refused('the SNS signature does not verify');
      if (!config.SES_TOPIC_ARNS.includes(message.TopicArn))
        throw new HttpError(403, 'forbidden', 'TopicArn: not one of SES_TOPIC_ARNS');
      if (message.Type === 'SubscriptionConfirmation') {
        if (!isSnsUrl(message.SubscribeURL)) throw malformed('SubscribeURL: is not an SNS address');
        await fetchUrl(message.SubscribeURL!);
        log.info({ topic: message.TopicArn }, 'SNS subscription confirmed');
        return { confirmed: true };
      }
      if (message.Type === 'UnsubscribeConfirmation') {
        log.warn({ topic: message.TopicArn }, 'SNS says this endpoint was unsubscribed from the topic');
        return { events: 0, applied: 0 };
      }
      const events = sesEvents(message.Message, verp);
      if (!events) throw malformed('Message: is not an SES notification');
      return applyAll(reply, events);
    });

    scope.post('/webhooks/postmark', async (request, reply) => {
      if (!config.POSTMARK_WEBHOOK_USER || !config.POSTMARK_WEBHOOK_PASSWORD) throw notConfigured('Postmark');
      if (
        !postmarkAuthorized(
          request.headers.authorization,
          config.POSTMARK_WEBHOOK_USER,
          config.POSTMARK_WEBHOOK_PASSWORD,
        )
      ) {
        throw refused('the basic-auth credentials are not the configured ones');
      }
      const events = postmarkEvents(request.body);
      if (!events) throw malformed('body: is not a Postmark webhook record');
      return applyAll(reply, events);
    });

    scope.post('/webhooks/mailgun', async (request, reply) => {
      const key = config.MAILGUN_WEBHOOK_SIGNING_KEY;
      if (!key) throw notConfigured('Mailgun');
      const signature = mailgunSignature(request.body);
      if (!signature || !mailgunSigned(signature, key))
        throw refused('the Mailgun signature does not verify, or its timestamp is stale');
      // Each token once: a captured request replayed within the timestamp window is refused.
      const tokenKey = `${config.QUEUE_PREFIX}:mailgun-token:${signature.token}`;
      if ((await ctx.redis.set(tokenKey, '1', 'EX', MAILGUN_MAX_AGE_SECONDS * 2, 'NX')) !== 'OK')
        throw refused('this Mailgun token was used before');
      const events = mailgunEvents(request.body, verp);
      if (!events) throw malformed('event-data: is not a Mailgun event');
      const answer = await applyAll(reply, events);
      // Mailgun retries a 503 with the same token: let it through then.
      if (reply.statusCode === 503) await ctx.redis.del(tokenKey);
      return answer;
    });
  });
};
