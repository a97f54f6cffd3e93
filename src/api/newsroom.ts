import type { FastifyInstance } from 'fastify';
import { DateTime } from 'luxon';
import { z } from 'zod';
import type { Context } from '../context';
import { attachmentLinks, publicAttachment } from '../db/attachments';
import { liftedRelease, liftedReleases, type PublicRelease } from '../db/newsroom';
import { idParam } from '../fields';
import { sizeLabel } from '../render/compile';
import { markdownToHtml } from '../render/markdown';
import { organisation } from '../render/organisation';
import { escapeHtml } from '../render/escape';
import { publicPage, sendNotFound, sendPage, siteOf } from './public-page';

const FEED_SIZE = 50;
/** Found pages may be cached briefly; a 404 never is, so a release shows up promptly at its lift. */
const PUBLIC_CACHE = 'public, max-age=60';

const dateline = (release: PublicRelease) =>
  DateTime.fromJSDate(release.embargo_at, { zone: release.embargo_time_zone }).setLocale('en-GB').toFormat('d LLLL yyyy');

/**
 * The public newsroom: lifted releases only (invariant 4). An embargoed release's page and files
 * answer exactly the 404 of an address that never existed, and the index and feed leave it out;
 * all of it decided by PostgreSQL's clock through publiclyLifted.
 */
export function newsroomRoutes(app: FastifyInstance, ctx: Context) {
  const { config, db } = ctx;
  const site = siteOf(config);
  const org = organisation(config);
  const releaseUrl = (slug: string) => `${config.PUBLIC_URL}/releases/${slug}`;
  const feedLink = `<link rel="alternate" type="application/atom+xml" href="/releases/feed.xml" title="${escapeHtml(config.ORG_NAME)} releases">`;

  app.get('/releases', async (_request, reply) => {
    const releases = await liftedReleases(db, 200);
    const items = releases
      .map((r) => `<li><div class="eyebrow">${escapeHtml(dateline(r))}</div><a href="/releases/${escapeHtml(r.slug)}">${escapeHtml(r.title)}</a>${r.summary ? `<p>${escapeHtml(r.summary)}</p>` : ''}</li>`)
      .join('\n');
    const body = `<h1>Press releases</h1>${items ? `<ul class="index">${items}</ul>` : '<p>No releases yet.</p>'}<p><a href="/releases/feed.xml">Atom feed</a></p>`;
    return sendPage(reply, 200, publicPage(site, 'Press releases', body, feedLink), PUBLIC_CACHE);
  });

  app.get('/releases/feed.xml', async (_request, reply) => {
    const releases = await liftedReleases(db, FEED_SIZE);
    const updated = releases.reduce((latest, r) => (r.lifted_at > latest ? r.lifted_at : latest), new Date(0));
    const entries = releases.map((r) => `  <entry>
    <id>${escapeHtml(releaseUrl(r.slug))}</id>
    <title>${escapeHtml(r.title)}</title>
    <link rel="alternate" type="text/html" href="${escapeHtml(releaseUrl(r.slug))}"/>
    <published>${r.embargo_at.toISOString()}</published>
    <updated>${r.lifted_at.toISOString()}</updated>
    ${r.summary ? `<summary>${escapeHtml(r.summary)}</summary>` : ''}
    <content type="html">${escapeHtml(markdownToHtml(r.body_md))}</content>
  </entry>`);
    const feed = `<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <id>${escapeHtml(`${config.PUBLIC_URL}/releases`)}</id>
  <title>${escapeHtml(config.ORG_NAME)} press releases</title>
  <link rel="self" href="${escapeHtml(`${config.PUBLIC_URL}/releases/feed.xml`)}"/>
  <link rel="alternate" type="text/html" href="${escapeHtml(`${config.PUBLIC_URL}/releases`)}"/>
  <author><name>${escapeHtml(config.ORG_NAME)}</name></author>
  <updated>${updated.toISOString()}</updated>
${entries.join('\n')}
</feed>
`;
    return reply.header('Cache-Control', PUBLIC_CACHE).type('application/atom+xml; charset=utf-8').send(feed);
  });

  app.get<{ Params: { slug: string } }>('/releases/:slug', async (request, reply) => {
    const release = await liftedRelease(db, request.params.slug);
    if (!release) return sendNotFound(reply, site);
    const files = await attachmentLinks(db, release, '');
    const contact = {
      name: release.contact_name ?? org.contact.name,
      email: release.contact_email ?? org.contact.email,
      phone: release.contact_phone ?? org.contact.phone,
    };
    const body = `<article>
<div class="eyebrow">Press release · ${escapeHtml(dateline(release))}</div>
<h1>${escapeHtml(release.title)}</h1>
${release.summary ? `<p class="lead">${escapeHtml(release.summary)}</p>` : ''}
${markdownToHtml(release.body_md)}
${files.length ? `<h3>Downloads</h3><ul>${files.map((f) => `<li><a href="${escapeHtml(f.url)}">${escapeHtml(f.filename)}</a> (${sizeLabel(f.size)})</li>`).join('')}</ul>` : ''}
<h3>Media contact</h3><p>${escapeHtml(contact.name)}${contact.email ? `<br><a href="mailto:${escapeHtml(contact.email)}">${escapeHtml(contact.email)}</a>` : ''}${contact.phone ? `<br>${escapeHtml(contact.phone)}` : ''}</p>
</article>`;
    return sendPage(reply, 200, publicPage(site, release.title, body, feedLink), PUBLIC_CACHE);
  });

  const fileParams = z.object({ slug: z.string(), id: idParam, filename: z.string() });
  const fileQuery = z.object({ key: z.string().max(100).optional() });
  app.get('/releases/:slug/files/:id/:filename', async (request, reply) => {
    const params = fileParams.safeParse(request.params);
    const query = fileQuery.safeParse(request.query);
    const file = params.success && query.success ? await publicAttachment(db, params.data.slug, params.data.id, query.data.key) : null;
    if (!file) return sendNotFound(reply, site);
    // Staff upload these: never let one run as a page of this site.
    const inline = /^(image\/(png|jpeg|gif|webp)|application\/pdf)$/.test(file.content_type);
    return reply
      // A keyed link may be fetched under embargo: no shared cache may keep it.
      .header('Cache-Control', query.data?.key ? 'private, no-store' : PUBLIC_CACHE)
      .header('X-Content-Type-Options', 'nosniff')
      .header('Content-Security-Policy', "default-src 'none'; sandbox")
      .header('Content-Disposition', `${inline ? 'inline' : 'attachment'}; filename*=UTF-8''${encodeURIComponent(file.filename)}`)
      .type(file.content_type)
      .send(file.data);
  });
}
