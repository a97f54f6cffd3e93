import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { DateTime, IANAZone } from 'luxon';
import { z } from 'zod';
import { LIMITS, spend, ThrottledError } from '../auth/throttle.js';
import { html, type Html } from '../render/html.js';
import { publicRateLimit } from './security.js';
import { recordAudit } from '../db/audit.js';
import {
  abandonSignup,
  confirmEmailChange,
  confirmSignup,
  findPreferences,
  publicLists,
  savePreferences,
  setPendingEmail,
  startSignup,
  type Preferences,
} from '../db/journalists.js';
import { createAccessRequest } from '../db/vetting.js';
import { internationalAddress, lineText, optionalLine } from '../fields.js';
import { messageSettings } from '../mail/message.js';
import { signPreferenceToken, verifyPreferenceToken } from '../mail/preference-token.js';
import { serviceMessage } from '../mail/service-mail.js';
import { SmtpUtf8Unavailable } from '../mail/smtp-pool.js';
import { embargoTerms, signupConsent } from '../subscribers/consent.js';
import { publicPage, sendNotFound, sendPage, siteOf } from './public-page.js';
import type { RoutesPlugin } from './plugin.js';

/** How long a sign-up confirmation link works, and a change-of-address link. */
export const SIGNUP_LINK_DAYS = 7;
export const EMAIL_CHANGE_LINK_HOURS = 48;
const SIGNUP = 'signup';
const emailChangePurpose = (address: string) => `email-change:${address.toLowerCase()}`;

/** Every IANA zone this runtime knows, for the preference page's list. */
export const TIME_ZONES: string[] = Intl.supportedValuesOf('timeZone');
const PAUSES: Record<string, number> = { '7': 7, '14': 14, '30': 30, '90': 90 };

/** Rate-limit keys name an address only by a hash: the counters table must not hold addresses. */
const addressKey = (email: string) => createHash('sha256').update(email.toLowerCase()).digest('hex').slice(0, 32);

/** A field that failed, for the form to show next to it. */
class FormError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

function field<T extends z.ZodType>(schema: T, value: unknown, name: string, label: string): z.infer<T> {
  const result = schema.safeParse(value);
  if (!result.success) throw new FormError(name, `${label}: ${result.error.issues[0]!.message}`);
  return result.data;
}

/**
 * The journalists' own pages on the public newsroom: sign-up with double opt-in, the preference
 * page (reached by a signed link from every email), a change of address confirmed at the new
 * address, and the application for advance copies. Forms are plain HTML posts (no script), each
 * refused whole with a 400 page naming the field.
 */
export const journalistRoutes: RoutesPlugin = async (app, { ctx }) => {
  const { config, db, keys } = ctx;
  const site = siteOf(config);
  const limited = { config: publicRateLimit(config) };
  const settings = messageSettings(config, keys);
  const consent = signupConsent(config.ORG_NAME);
  const terms = embargoTerms(config.ORG_NAME);
  const preferenceUrl = (subscriberId: number) =>
    `${config.PUBLIC_URL}/preferences/${signPreferenceToken(keys, subscriberId)}`;

  const page = (reply: FastifyReply, title: string, body: Html, status = 200) =>
    sendPage(reply, status, publicPage(site, title, html`<div class="card">${body}</div>`));
  const errorLine = (error: FormError | null) =>
    error ? html`<p class="form-error" role="alert" id="form-error">${error.message}</p>` : '';
  const invalid = (error: FormError | null, name: string) =>
    error?.field === name ? html` aria-invalid="true" aria-describedby="form-error"` : '';
  const mail = (to: string, subject: string, text: string) =>
    serviceMessage(settings, { to, subject, text }).then((m) => app.mailer().send(m));

  app.register(async (scope) => {
    // Plain HTML forms: URL-encoded bodies, parsed by the platform's URLSearchParams.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'string', bodyLimit: 32 * 1024 }, (_request, body, done) =>
      done(null, new URLSearchParams(String(body))),
    );
    const form = (request: FastifyRequest) =>
      request.body instanceof URLSearchParams ? request.body : new URLSearchParams();

    // ---- Sign-up -------------------------------------------------------------------------------

    const signupForm = async (reply: FastifyReply, values: URLSearchParams, error: FormError | null, status = 200) => {
      const lists = await publicLists(db);
      const chosen = new Set(values.getAll('list'));
      const body = html`<h1>Receive our press releases</h1>
<p>Choose what you want to receive. We will email you a link to confirm; nothing is sent before you do.</p>
${errorLine(error)}
<form method="post" action="/subscribe" class="form" novalidate>
  ${
    lists.length === 0
      ? html`<p>There are no lists to sign up to yet.</p>`
      : html`<fieldset${invalid(error, 'list')}><legend>Lists</legend>
    ${lists.map(
      (
        l,
      ) => html`<div class="check"><input type="checkbox" id="list-${l.id}" name="list" value="${l.id}" ${chosen.has(String(l.id)) ? 'checked' : ''}>
      <label for="list-${l.id}">${l.name}${l.description ? html` <span class="hint">${l.description}</span>` : ''}</label></div>`,
    )}
  </fieldset>`
  }
  <label for="name">Name</label><input id="name" name="name" autocomplete="name" maxlength="200" value="${values.get('name') ?? ''}"${invalid(error, 'name')}>
  <label for="outlet">Outlet</label><input id="outlet" name="outlet" autocomplete="organization" maxlength="200" value="${values.get('outlet') ?? ''}"${invalid(error, 'outlet')}>
  <label for="email">Email</label><input id="email" name="email" type="email" autocomplete="email" required maxlength="254" value="${values.get('email') ?? ''}"${invalid(error, 'email')}>
  <div class="trap"><label for="website">Leave this field empty</label><input id="website" name="website" tabindex="-1" autocomplete="off"></div>
  <div class="check"><input type="checkbox" id="consent" name="consent" value="${consent.version}" required${invalid(error, 'consent')}>
    <label for="consent">${consent.text}</label></div>
  <button type="submit">Sign up</button>
</form>`;
      return page(reply, 'Sign up', body, status);
    };

    scope.get('/subscribe', limited, async (_request, reply) => signupForm(reply, new URLSearchParams(), null));

    scope.post('/subscribe', limited, async (request, reply) => {
      const values = form(request);
      const checkInbox = () =>
        page(
          reply,
          'Check your inbox',
          html`<h1>Check your inbox</h1>
        <p>If the address can receive our releases, a link to confirm is on its way. Nothing is sent to you before you open it.</p>`,
        );
      // A filled honeypot is a bot: it is told what a person would be, and nothing happens.
      if ((values.get('website') ?? '') !== '') return checkInbox();
      let input;
      try {
        const offered = new Set((await publicLists(db)).map((l) => l.id));
        const listIds = [...new Set(values.getAll('list').map(Number))];
        if (listIds.length === 0 || listIds.some((id) => !offered.has(id)))
          throw new FormError('list', 'Lists: choose at least one of the lists offered');
        input = {
          listIds,
          name: field(optionalLine(200), values.get('name') ?? '', 'name', 'Name'),
          outlet: field(optionalLine(200), values.get('outlet') ?? '', 'outlet', 'Outlet'),
          email: field(internationalAddress, values.get('email') ?? '', 'email', 'Email'),
        };
        if (values.get('consent') !== consent.version)
          throw new FormError('consent', 'Consent: tick the box to agree, or we cannot send you anything');
      } catch (error) {
        if (error instanceof FormError) return signupForm(reply, values, error, 400);
        throw error;
      }
      try {
        await spend(db, `signup-client:${request.ip}`, LIMITS.signupsPerClient);
      } catch (error) {
        if (!(error instanceof ThrottledError)) throw error;
        return page(
          reply,
          'Too many sign-ups',
          html`<h1>Too many sign-ups</h1><p>Please try again ${error.message.replace(/^too many attempts; try again /, '')}.</p>`,
          429,
        );
      }
      const started = await startSignup(db, { ...input, consent });
      const audit = () =>
        recordAudit(db, {
          releaseId: null,
          actor: `subscriber:${started.subscriberId}`,
          action: 'signup.requested',
          details: { signupId: started.signupId, listIds: input.listIds },
        });
      if (started.blocked) return audit().then(checkInbox);
      try {
        // One confirmation mail a day per address: signing up again does not mail again.
        await spend(db, `signup-email:${addressKey(input.email)}`, LIMITS.signupEmailsPerAddress);
      } catch (error) {
        if (!(error instanceof ThrottledError)) throw error;
        return audit().then(checkInbox);
      }
      const token = keys.sealUntil(
        SIGNUP,
        String(started.signupId),
        new Date(Date.now() + SIGNUP_LINK_DAYS * 86_400_000),
      );
      try {
        await mail(
          input.email,
          `Confirm: receive ${config.ORG_NAME} press releases`,
          `Someone, we hope you, asked to receive press releases from ${config.ORG_NAME} at this address.\n\n` +
            `To confirm, open this link within ${SIGNUP_LINK_DAYS} days and press the button:\n${config.PUBLIC_URL}/subscribe/confirm/${token}\n\n` +
            'If it was not you, ignore this message: nothing will be sent to you.\n',
        );
      } catch (error) {
        if (!(error instanceof SmtpUtf8Unavailable)) throw error;
        // Refused whole: the sign-up is taken back, and the person told why, in words they can act on.
        await abandonSignup(db, started.signupId);
        return signupForm(
          reply,
          values,
          new FormError(
            'email',
            'Email: our mail system cannot send to addresses with non-ASCII characters yet (its relay does not offer SMTPUTF8); please use another address',
          ),
          400,
        );
      }
      await audit();
      return checkInbox();
    });

    const signupFor = async (reply: FastifyReply, token: string) => {
      const opened = keys.openUntil(SIGNUP, token);
      if (opened === 'expired') {
        await page(
          reply,
          'Link expired',
          html`<h1>This link has expired</h1><p><a href="/subscribe">Sign up again</a> to get a new one.</p>`,
          410,
        );
        return null;
      }
      if (!opened || !/^\d{1,15}$/.test(opened.payload)) {
        await sendNotFound(reply, site);
        return null;
      }
      return Number(opened.payload);
    };

    // Opening the link shows a button: a mail scanner that follows links confirms nothing.
    scope.get<{ Params: { token: string } }>('/subscribe/confirm/:token', limited, async (request, reply) => {
      if ((await signupFor(reply, request.params.token)) === null) return reply;
      return page(
        reply,
        'Confirm',
        html`<h1>Confirm your sign-up</h1><p>Press the button to start receiving our releases.</p>
        <form method="post" action="/subscribe/confirm/${request.params.token}"><button type="submit">Confirm</button></form>`,
      );
    });

    scope.post<{ Params: { token: string } }>('/subscribe/confirm/:token', limited, async (request, reply) => {
      const signupId = await signupFor(reply, request.params.token);
      if (signupId === null) return reply;
      const outcome = await confirmSignup(db, signupId);
      if (outcome.kind === 'missing') return sendNotFound(reply, site);
      if (outcome.kind !== 'confirmed' && outcome.kind !== 'already')
        return page(
          reply,
          'Sign-up',
          html`<h1>We cannot send to this address</h1><p>Mail to it was refused or reported; please write to the press office.</p>`,
        );
      if (outcome.kind === 'confirmed') {
        await recordAudit(db, {
          releaseId: null,
          actor: `subscriber:${outcome.subscriberId}`,
          action: 'signup.confirmed',
          details: { signupId, listIds: outcome.listIds },
        });
      }
      return page(
        reply,
        'Subscribed',
        html`<h1>You are subscribed</h1><p>Our releases will reach you from now on.</p>
        <p><a href="${preferenceUrl(outcome.subscriberId).replace(config.PUBLIC_URL, '')}">Your preferences</a>: lists, time zone, plain text, a pause, and advance copies under embargo.</p>`,
      );
    });

    // ---- Preferences ---------------------------------------------------------------------------

    const personFor = async (reply: FastifyReply, token: string) => {
      const subscriberId = verifyPreferenceToken(keys, token);
      const prefs = subscriberId === null ? null : await findPreferences(db, subscriberId);
      if (!prefs) await sendNotFound(reply, site);
      return prefs;
    };

    const preferencePage = (
      reply: FastifyReply,
      token: string,
      prefs: Preferences,
      notice: Html | null,
      error: FormError | null,
      status = 200,
    ) => {
      const base = `/preferences/${token}`;
      const paused = prefs.pausedUntil && prefs.pausedUntil > new Date() ? prefs.pausedUntil : null;
      const zone = prefs.timeZone;
      const request = prefs.accessRequest;
      const termsCurrent = prefs.termsVersion === terms.version;
      let advance: Html;
      if (request?.status === 'pending')
        advance = html`<p class="status" data-access-status="pending">Your application is with the press office; we will email you its answer.</p>`;
      else if (request?.status === 'approved' && termsCurrent)
        advance = html`<p class="status" data-access-status="approved">You receive advance copies under embargo.</p>`;
      else {
        const again = request?.status === 'approved';
        advance = html`${request?.status === 'refused' ? html`<p class="status" data-access-status="refused">Your last application was not accepted${request.note ? html`: ${request.note}` : ''}. You may apply again.</p>` : ''}
${again ? html`<p class="status" data-access-status="terms">Our embargo terms have changed: please read and accept them again to keep receiving advance copies.</p>` : ''}
<form method="post" action="${base}/access" class="form" novalidate>
  ${
    again
      ? ''
      : html`<label for="access-outlet">Outlet</label><input id="access-outlet" name="outlet" required maxlength="200" value="${prefs.outlet ?? ''}"${invalid(error, 'outlet')}>
  <label for="access-role">Your role</label><input id="access-role" name="role" required maxlength="200" placeholder="Science correspondent"${invalid(error, 'role')}>
  <label for="access-work-email">Work address</label><input id="access-work-email" name="workEmail" type="email" required maxlength="254"${invalid(error, 'workEmail')}>
  <label for="access-links">Links to your published work (one a line)</label><textarea id="access-links" name="links" rows="3" required${invalid(error, 'links')}></textarea>`
  }
  <div class="terms" id="terms-text">${terms.text}</div>
  <div class="check"><input type="checkbox" id="access-terms" name="terms" value="${terms.version}" required aria-describedby="terms-text"${invalid(error, 'terms')}>
    <label for="access-terms">I accept the embargo terms above</label></div>
  <button type="submit">${again ? 'Accept the terms' : 'Apply for advance copies'}</button>
</form>`;
      }
      const body = html`<h1>Your preferences</h1>
<p>For <strong>${prefs.email}</strong>${prefs.pendingEmail ? html` (waiting for you to confirm <strong>${prefs.pendingEmail}</strong>)` : ''}.</p>
${notice ? html`<p class="notice" role="status">${notice}</p>` : ''}
${errorLine(error)}
<form method="post" action="${base}" class="form" novalidate>
  <fieldset><legend>Lists</legend>
    ${
      prefs.lists.length === 0
        ? html`<p>You are on no lists.</p>`
        : prefs.lists.map(
            (
              l,
            ) => html`<div class="check"><input type="checkbox" id="list-${l.id}" name="list" value="${l.id}" ${l.active ? 'checked' : ''}>
      <label for="list-${l.id}">${l.name}${l.description ? html` <span class="hint">${l.description}</span>` : ''}</label></div>`,
          )
    }
  </fieldset>
  <label for="time-zone">Time zone <span class="hint">embargo times are also given in it</span></label>
  <select id="time-zone" name="timeZone"${invalid(error, 'timeZone')}><option value="">The release's own zone</option>
    ${TIME_ZONES.map((z) => html`<option value="${z}" ${z === zone ? 'selected' : ''}>${z.replace(/_/g, ' ')}</option>`)}</select>
  <div class="check"><input type="checkbox" id="plain-text" name="plainText" value="1" ${prefs.plainText ? 'checked' : ''}><label for="plain-text">Plain text only (no HTML)</label></div>
  <label for="pause">Pause ${paused ? html`<span class="hint">paused until ${DateTime.fromJSDate(paused, { zone: zone ?? 'UTC' }).toFormat('d LLLL yyyy')}</span>` : ''}</label>
  <select id="pause" name="pause"${invalid(error, 'pause')}><option value="">${paused ? 'Keep the pause' : 'No pause'}</option>
    ${paused ? html`<option value="end">End the pause now</option>` : ''}
    ${Object.keys(PAUSES).map((days) => html`<option value="${days}">Pause for ${days} days</option>`)}</select>
  <button type="submit">Save preferences</button>
</form>
<h2>Change your address</h2>
<form method="post" action="${base}/email" class="form" novalidate>
  <label for="new-email">New address</label><input id="new-email" name="email" type="email" required maxlength="254"${invalid(error, 'email')}>
  <button type="submit">Send a confirmation link</button>
</form>
<h2>Advance copies under embargo</h2>
<p>Vetted journalists receive releases before the embargo lifts, with a calendar entry for the lift.</p>
${advance}`;
      return page(reply, 'Your preferences', body, status);
    };

    scope.get<{ Params: { token: string } }>('/preferences/:token', limited, async (request, reply) => {
      const prefs = await personFor(reply, request.params.token);
      if (!prefs) return reply;
      return preferencePage(reply, request.params.token, prefs, null, null);
    });

    scope.post<{ Params: { token: string } }>('/preferences/:token', limited, async (request, reply) => {
      const prefs = await personFor(reply, request.params.token);
      if (!prefs) return reply;
      const values = form(request);
      let change;
      try {
        const timeZone = values.get('timeZone') ?? '';
        if (timeZone !== '' && !IANAZone.isValidZone(timeZone))
          throw new FormError('timeZone', 'Time zone: choose one of the zones listed');
        const pause = values.get('pause') ?? '';
        if (pause !== '' && pause !== 'end' && !PAUSES[pause])
          throw new FormError('pause', 'Pause: choose one of the lengths listed');
        const offered = prefs.lists.map((l) => l.id);
        const chosen = values.getAll('list').map(Number);
        if (chosen.some((id) => !offered.includes(id)))
          throw new FormError('list', 'Lists: choose among the lists shown');
        change = {
          activeListIds: chosen,
          offeredListIds: offered,
          timeZone: timeZone || null,
          plainText: values.get('plainText') === '1',
          pausedUntil:
            pause === ''
              ? prefs.pausedUntil
              : pause === 'end'
                ? null
                : new Date(Date.now() + PAUSES[pause]! * 86_400_000),
          consent,
        };
      } catch (error) {
        if (error instanceof FormError) return preferencePage(reply, request.params.token, prefs, null, error, 400);
        throw error;
      }
      const { joined, left } = await savePreferences(db, prefs.id, change);
      await recordAudit(db, {
        releaseId: null,
        actor: `subscriber:${prefs.id}`,
        action: 'preferences.saved',
        details: { joined, left },
      });
      return preferencePage(
        reply,
        request.params.token,
        (await findPreferences(db, prefs.id))!,
        html`Your preferences are saved.`,
        null,
      );
    });

    scope.post<{ Params: { token: string } }>('/preferences/:token/email', limited, async (request, reply) => {
      const prefs = await personFor(reply, request.params.token);
      if (!prefs) return reply;
      let email: string;
      try {
        email = field(internationalAddress, form(request).get('email') ?? '', 'email', 'New address');
        if (email.toLowerCase() === prefs.email.toLowerCase())
          throw new FormError('email', 'New address: this is already your address');
        if (!(await setPendingEmail(db, prefs.id, email)))
          throw new FormError(
            'email',
            'New address: another subscription already uses it; write to the press office to merge them',
          );
        await spend(db, `email-change:${prefs.id}`, LIMITS.emailChangesPerSubscriber);
      } catch (error) {
        if (error instanceof FormError) return preferencePage(reply, request.params.token, prefs, null, error, 400);
        if (error instanceof ThrottledError)
          return preferencePage(
            reply,
            request.params.token,
            prefs,
            null,
            new FormError('email', `New address: ${error.message}`),
            429,
          );
        throw error;
      }
      const token = keys.sealUntil(
        emailChangePurpose(email),
        String(prefs.id),
        new Date(Date.now() + EMAIL_CHANGE_LINK_HOURS * 3_600_000),
      );
      await mail(
        email,
        `Confirm your new address for ${config.ORG_NAME} releases`,
        `Someone, we hope you, asked for ${config.ORG_NAME}'s press releases to come to this address instead of the old one.\n\n` +
          `To confirm, open this link within ${EMAIL_CHANGE_LINK_HOURS} hours and press the button:\n${config.PUBLIC_URL}/email-change/${prefs.id}/${token}\n\n` +
          'If it was not you, ignore this message: nothing changes.\n',
      );
      await recordAudit(db, {
        releaseId: null,
        actor: `subscriber:${prefs.id}`,
        action: 'email-change.requested',
        details: {},
      });
      return preferencePage(
        reply,
        request.params.token,
        (await findPreferences(db, prefs.id))!,
        html`We sent a link to the new address. Open it within ${EMAIL_CHANGE_LINK_HOURS} hours to make the change.`,
        null,
      );
    });

    /** The change a link confirms, if it is ours, unexpired, and for the address now waiting. */
    const changeFor = async (reply: FastifyReply, id: string, token: string) => {
      const prefs = /^\d{1,15}$/.test(id) ? await findPreferences(db, Number(id)) : null;
      const opened = prefs?.pendingEmail ? keys.openUntil(emailChangePurpose(prefs.pendingEmail), token) : null;
      if (opened === 'expired') {
        await page(
          reply,
          'Link expired',
          html`<h1>This link has expired</h1><p>Ask for a new one from your preferences.</p>`,
          410,
        );
        return null;
      }
      if (!prefs || !opened || opened.payload !== String(prefs.id)) {
        await sendNotFound(reply, site);
        return null;
      }
      return prefs as Preferences & { pendingEmail: string };
    };

    scope.get<{ Params: { id: string; token: string } }>(
      '/email-change/:id/:token',
      limited,
      async (request, reply) => {
        const prefs = await changeFor(reply, request.params.id, request.params.token);
        if (!prefs) return reply;
        return page(
          reply,
          'Confirm your new address',
          html`<h1>Confirm your new address</h1><p>Send our releases to <strong>${prefs.pendingEmail}</strong> from now on.</p>
        <form method="post" action="/email-change/${prefs.id}/${request.params.token}"><button type="submit">Confirm</button></form>`,
        );
      },
    );

    scope.post<{ Params: { id: string; token: string } }>(
      '/email-change/:id/:token',
      limited,
      async (request, reply) => {
        const prefs = await changeFor(reply, request.params.id, request.params.token);
        if (!prefs) return reply;
        const outcome = await confirmEmailChange(db, prefs.id, prefs.pendingEmail);
        if (outcome === 'taken')
          return page(
            reply,
            'Address in use',
            html`<h1>This address is already subscribed</h1><p>Write to the press office to merge the two.</p>`,
            409,
          );
        if (outcome === 'stale') return sendNotFound(reply, site);
        await recordAudit(db, {
          releaseId: null,
          actor: `subscriber:${prefs.id}`,
          action: 'email-change.confirmed',
          details: {},
        });
        return page(
          reply,
          'Address changed',
          html`<h1>Your address is changed</h1><p>Our releases go to <strong>${prefs.pendingEmail}</strong> from now on.</p>`,
        );
      },
    );

    // ---- Advance copies: the application -------------------------------------------------------

    scope.post<{ Params: { token: string } }>('/preferences/:token/access', limited, async (request, reply) => {
      const prefs = await personFor(reply, request.params.token);
      if (!prefs) return reply;
      const values = form(request);
      const renewal = prefs.accessRequest?.status === 'approved';
      let application = null;
      try {
        if (prefs.accessRequest?.status === 'pending')
          throw new FormError('outlet', 'Your application is already with the press office');
        if (!renewal) {
          const links = (values.get('links') ?? '')
            .split(/\r?\n/)
            .map((l) => l.trim())
            .filter(Boolean);
          application = {
            outlet: field(lineText(200), values.get('outlet') ?? '', 'outlet', 'Outlet'),
            role: field(lineText(200), values.get('role') ?? '', 'role', 'Your role'),
            workEmail: field(internationalAddress, values.get('workEmail') ?? '', 'workEmail', 'Work address'),
            links: field(
              z
                .array(z.url({ protocol: /^https?$/, message: 'each line must be a web address (https://…)' }).max(500))
                .min(1, 'give at least one link')
                .max(10, 'give at most 10 links'),
              links,
              'links',
              'Links',
            ),
          };
        }
        if (values.get('terms') !== terms.version)
          throw new FormError('terms', 'Embargo terms: tick the box to accept them');
      } catch (error) {
        if (error instanceof FormError) return preferencePage(reply, request.params.token, prefs, null, error, 400);
        throw error;
      }
      const requestId = await createAccessRequest(db, prefs.id, application, terms);
      await recordAudit(db, {
        releaseId: null,
        actor: `subscriber:${prefs.id}`,
        action: renewal ? 'embargo-terms.accepted' : 'access.requested',
        details: { requestId, termsVersion: terms.version },
      });
      const notice = renewal
        ? html`Thank you: you have accepted the embargo terms.`
        : html`Your application is sent. The press office will email you its answer.`;
      return preferencePage(reply, request.params.token, (await findPreferences(db, prefs.id))!, notice, null);
    });
  });
};
