import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { DateTime } from 'luxon';
import { z } from 'zod';
import { publicRateLimit } from './security.js';
import { attachmentChunks, attachmentLinks, publicAttachment } from '../db/attachments.js';
import { publicCorrections } from '../db/changes.js';
import { keyedAttachment, recordFileAccess } from '../db/file-access.js';
import { liftedRelease, liftedReleases, newsroomVersion, type PublicRelease } from '../db/newsroom.js';
import { openFileKey } from '../mail/file-key.js';
import { idParam } from '../fields.js';
import { sizeLabel } from '../render/compile.js';
import { markdownToHtml } from '../render/markdown.js';
import { organisation } from '../render/organisation.js';
import { html, raw, type Html } from '../render/html.js';
import { servedAs } from './file-types.js';
import { publicPage, sendNotFound, sendPage, siteOf } from './public-page.js';
import type { RoutesPlugin } from './plugin.js';

const FEED_SIZE = 50;
/** Found pages may be cached briefly; a 404 never is, so a release shows up promptly at its lift. */
const PUBLIC_CACHE = 'public, max-age=60';

const dateline = (release: PublicRelease) =>
  DateTime.fromJSDate(release.embargo_at, { zone: release.embargo_time_zone })
    .setLocale('en-GB')
    .toFormat('d LLLL yyyy');

/**
 * The public newsroom: lifted releases only (invariant "embargoed text stays home"). An embargoed release's page and
 * files
 * answer exactly the 404 of an address that never existed, and the index and feed leave it out;
 * all of it decided by PostgreSQL's clock through publiclyLifted.
 */
export const newsroomRoutes: RoutesPlugin = async (app, { ctx }) => {
  const { config, db } = ctx;
  const site = siteOf(config);
  const org = organisation(config);
  const releaseUrl = (slug: string) => `${config.PUBLIC_URL}/releases/${slug}`;
  const feedLink = html`<link rel="alternate" type="application/atom+xml" href="/releases/feed.xml" title="${config.ORG_NAME} releases">`;

  const limited = { config: publicRateLimit(config) };

  /**
   * The index and the feed are rebuilt only when the newsroom changes (newsroomVersion), and
   * carry an ETag of that version, so a reader polling the feed gets 304 until the next lift.
   */
  const cached = (build: () => Promise<Html>) => {
    let kept: { version: string; etag: string; body: Html } | undefined;
    return async (request: FastifyRequest, reply: FastifyReply): Promise<Html | null> => {
      const version = await newsroomVersion(db);
      if (kept?.version !== version) {
        kept = {
          version,
          etag: `"${createHash('sha256').update(version).digest('base64url').slice(0, 16)}"`,
          body: await build(),
        };
      }
      reply.header('ETag', kept.etag);
      if (request.headers['if-none-match'] === kept.etag) {
        reply.status(304).header('Cache-Control', PUBLIC_CACHE).send();
        return null;
      }
      return kept.body;
    };
  };

  const indexPage = cached(async () => {
    const releases = await liftedReleases(db, 200);
    const items = releases.map(
      (r) =>
        html`<li><div class="eyebrow">${dateline(r)}</div><a href="/releases/${r.slug}">${r.title}</a>${r.summary && html`<p>${r.summary}</p>`}</li>\n`,
    );
    const list = items.length ? html`<ul class="index">${items}</ul>` : html`<p>No releases yet.</p>`;
    const body = html`<h1>Press releases</h1>${list}<p><a href="/releases/feed.xml">Atom feed</a></p>`;
    return publicPage(site, 'Press releases', body, feedLink);
  });

  app.get('/releases', limited, async (request, reply) => {
    const page = await indexPage(request, reply);
    return page === null ? reply : sendPage(reply, 200, page, PUBLIC_CACHE);
  });

  const feed = cached(async () => {
    const releases = await liftedReleases(db, FEED_SIZE);
    // A corrected entry is updated when it was corrected, so feed readers fetch it again.
    const updatedAt = (r: PublicRelease) =>
      r.corrected_at && r.corrected_at > r.lifted_at ? r.corrected_at : r.lifted_at;
    const updated = releases.reduce((latest, r) => (updatedAt(r) > latest ? updatedAt(r) : latest), new Date(0));
    // The same escaping tag as the pages: XML needs exactly HTML's five escapes, and the entry's
    // content is the release's HTML carried as text.
    const entries = releases.map(
      (r) => html`  <entry>
    <id>${releaseUrl(r.slug)}</id>
    <title>${r.title}</title>
    <link rel="alternate" type="text/html" href="${releaseUrl(r.slug)}"/>
    <published>${r.embargo_at.toISOString()}</published>
    <updated>${updatedAt(r).toISOString()}</updated>
    ${r.summary && html`<summary>${r.summary}</summary>`}
    <content type="html">${markdownToHtml(r.body_md)}</content>
  </entry>\n`,
    );
    return html`<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <id>${config.PUBLIC_URL}/releases</id>
  <title>${config.ORG_NAME} press releases</title>
  <link rel="self" href="${config.PUBLIC_URL}/releases/feed.xml"/>
  <link rel="alternate" type="text/html" href="${config.PUBLIC_URL}/releases"/>
  <author><name>${config.ORG_NAME}</name></author>
  <updated>${updated.toISOString()}</updated>
${entries}</feed>
`;
  });

  app.get('/releases/feed.xml', limited, async (request, reply) => {
    const body = await feed(request, reply);
    return body === null
      ? reply
      : reply.header('Cache-Control', PUBLIC_CACHE).type('application/atom+xml; charset=utf-8').send(body.text);
  });

  app.get<{ Params: { slug: string } }>('/releases/:slug', limited, async (request, reply) => {
    const release = await liftedRelease(db, request.params.slug);
    if (!release) return sendNotFound(reply, site);
    const files = await attachmentLinks(db, release.id, '');
    const corrections = await publicCorrections(db, release.id);
    const contact = {
      name: release.contact_name ?? org.contact.name,
      email: release.contact_email ?? org.contact.email,
      phone: release.contact_phone ?? org.contact.phone,
    };
    const downloads = files.map((f) => html`<li><a href="${f.url}">${f.filename}</a> (${sizeLabel(f.size)})</li>`);
    // The body is Markdown rendered and sanitised by markdownToHtml: the one trusted markup here.
    const body = html`<article>
<div class="eyebrow">Press release · ${dateline(release)}</div>
<h1>${release.title}</h1>
${corrections.map((c) => html`<p class="correction"><strong>Corrected ${DateTime.fromJSDate(c.at, { zone: release.embargo_time_zone }).setLocale('en-GB').toFormat('d LLLL yyyy, HH:mm ZZZZ')}:</strong> ${c.note ?? ''}</p>\n`)}
${release.summary && html`<p class="lead">${release.summary}</p>`}
${raw(markdownToHtml(release.body_md))}
${files.length > 0 && html`<h3>Downloads</h3><ul>${downloads}</ul>`}
<h3>Media contact</h3><p>${contact.name}${contact.email && html`<br><a href="mailto:${contact.email}">${contact.email}</a>`}${contact.phone && html`<br>${contact.phone}`}</p>
</article>`;
    return sendPage(reply, 200, publicPage(site, release.title, body, feedLink), PUBLIC_CACHE);
  });

  // A file is found by its id; the name in the path is for people (and is left out of the keyed
  // links of advance copies, see attachmentUrl). The /releases/<slug>/files/… form is what emails
  // sent before slugs were made at the lift link to.
  const fileParams = z.object({ id: idParam });
  const fileQuery = z.object({ key: z.string().max(100).optional() });
  const serveFile = async (request: FastifyRequest, reply: FastifyReply) => {
    const params = fileParams.safeParse(request.params);
    const query = fileQuery.safeParse(request.query);
    if (!params.success || !query.success) return sendNotFound(reply, site);
    // A recipient's own key: valid, not revoked, for a copy of this file's release. Every use is
    // recorded against the copy it was made for; a key that opens nothing is as if none were given.
    const deliveryId = query.data.key ? openFileKey(ctx.keys, query.data.key) : null;
    const keyed = deliveryId === null ? null : await keyedAttachment(db, params.data.id, deliveryId);
    if (keyed && deliveryId !== null) {
      await recordFileAccess(db, {
        file: keyed,
        deliveryId,
        ip: request.ip ?? null,
        userAgent: request.headers['user-agent'] ?? null,
      });
    }
    const file = keyed ?? (await publicAttachment(db, params.data.id));
    if (!file) return sendNotFound(reply, site);
    // Only allowed types, served as such, and never able to run as a page of this site.
    const { type, disposition } = servedAs(file.content_type);
    return (
      reply
        // A keyed link may be fetched under embargo: no shared cache may keep it.
        .header('Cache-Control', query.data.key ? 'private, no-store' : PUBLIC_CACHE)
        .header('X-Content-Type-Options', 'nosniff')
        .header('Content-Security-Policy', "default-src 'none'; sandbox")
        .header('Content-Disposition', `${disposition}; filename*=UTF-8''${encodeURIComponent(file.filename)}`)
        .header('Content-Length', String(file.size))
        .type(type)
        .send(Readable.from(attachmentChunks(db, file.id, file.size)))
    );
  };
  app.get('/files/:id', limited, serveFile);
  app.get('/files/:id/:filename', limited, serveFile);
  app.get('/releases/:slug/files/:id/:filename', limited, serveFile);
};
