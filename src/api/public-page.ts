import type { FastifyReply } from 'fastify';
import { html, raw, type Html } from '../render/html';

const STYLE = `
  body { margin: 0; background: #eef1f5; color: #1f2933; font: 16px/1.6 Helvetica, Arial, sans-serif; }
  main { max-width: 680px; margin: 0 auto; padding: 24px 20px 48px; }
  header { font: 700 20px Georgia, 'Times New Roman', serif; color: #102a43; padding: 8px 0 20px; }
  header a { color: inherit; text-decoration: none; }
  article, .card { background: #fff; border-radius: 6px; padding: 28px; overflow-wrap: anywhere; }
  h1 { font: 700 28px/1.25 Georgia, 'Times New Roman', serif; color: #102a43; margin: 0 0 12px; }
  h2, h3 { font-family: Georgia, 'Times New Roman', serif; color: #102a43; }
  a { color: #0b5cad; }
  img { max-width: 100%; height: auto; }
  .eyebrow { font-size: 12px; font-weight: 700; letter-spacing: 1px; text-transform: uppercase; color: #8a94a6; }
  .lead { font-size: 18px; color: #3e4c59; }
  ul.index { list-style: none; padding: 0; margin: 0; }
  ul.index li { background: #fff; border-radius: 6px; padding: 20px 24px; margin: 0 0 12px; }
  ul.index a { font: 700 20px/1.3 Georgia, 'Times New Roman', serif; color: #102a43; text-decoration: none; }
  button { font: 700 16px Helvetica, Arial, sans-serif; background: #0b5cad; color: #fff; border: 0; border-radius: 4px; padding: 12px 20px; cursor: pointer; }
  footer { font-size: 13px; color: #52606d; padding: 20px 0; }
`;

export interface PageSite {
  orgName: string;
  orgAddress: string;
}

/** A public HTML page in the newsroom's look; like the console's pages, built only with the escaping html tag. */
export function publicPage(site: PageSite, title: string, body: Html, head: Html = raw('')): Html {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · ${site.orgName}</title><style>${raw(STYLE)}</style>${head}</head>
<body><main><header><a href="/releases">${site.orgName}</a></header>
${body}
<footer>${site.orgName} · ${site.orgAddress}</footer></main></body></html>`;
}

/**
 * Sends a public page. No referrer leaves it (unsubscribe URLs carry tokens), nothing but inline
 * style runs, and forms post only back to this site.
 */
export function sendPage(reply: FastifyReply, status: number, page: Html, cache = 'no-store') {
  return reply
    .status(status)
    .header('Cache-Control', cache)
    .header('Referrer-Policy', 'no-referrer')
    .header('X-Content-Type-Options', 'nosniff')
    .header('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; img-src https: http:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
    .type('text/html; charset=utf-8')
    .send(page.text);
}

/** The one 404 of the public site: an unknown, embargoed or forged address all look exactly like this. */
export function sendNotFound(reply: FastifyReply, site: PageSite) {
  const body = html`<div class="card"><h1>Page not found</h1><p>There is nothing at this address.</p><p><a href="/releases">All releases</a></p></div>`;
  return sendPage(reply, 404, publicPage(site, 'Page not found', body));
}

export const siteOf = (config: { ORG_NAME: string; ORG_ADDRESS: string }): PageSite => ({ orgName: config.ORG_NAME, orgAddress: config.ORG_ADDRESS });
