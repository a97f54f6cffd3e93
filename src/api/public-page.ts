import type { FastifyReply } from 'fastify';
import { html, raw, type Html } from '../render/html.js';

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
  .eyebrow { font-size: 12px; font-weight: 700; letter-spacing: 1px; text-transform: uppercase; color: #5f6b7a; }
  .lead { font-size: 18px; color: #3e4c59; }
  ul.index { list-style: none; padding: 0; margin: 0; }
  ul.index li { background: #fff; border-radius: 6px; padding: 20px 24px; margin: 0 0 12px; }
  ul.index a { font: 700 20px/1.3 Georgia, 'Times New Roman', serif; color: #102a43; text-decoration: none; }
  button { font: 700 16px Helvetica, Arial, sans-serif; background: #0b5cad; color: #fff; border: 0; border-radius: 4px; padding: 12px 20px; cursor: pointer; }
  footer { font-size: 13px; color: #52606d; padding: 20px 0; }
  .form label { display: block; font-weight: 700; margin: 16px 0 4px; }
  .form input:not([type=checkbox]), .form select, .form textarea { box-sizing: border-box; width: 100%; font: 16px Helvetica, Arial, sans-serif; padding: 10px; border: 1px solid #7b8794; border-radius: 4px; color: #1f2933; background: #fff; }
  .form fieldset { border: 1px solid #cbd2d9; border-radius: 4px; margin: 16px 0; padding: 8px 16px 12px; }
  .form legend { font-weight: 700; padding: 0 4px; }
  .form .check { display: flex; gap: 10px; align-items: flex-start; margin: 12px 0; }
  .form .check input { width: 20px; height: 20px; margin: 3px 0 0; flex: none; }
  .form .check label { display: inline; font-weight: 400; margin: 0; }
  .form button { margin-top: 20px; }
  .hint { display: block; font-weight: 400; font-size: 14px; color: #52606d; }
  .trap { position: absolute; left: -10000px; width: 1px; height: 1px; overflow: hidden; }
  .form-error { color: #a61b1b; background: #fdecec; border-left: 4px solid #a61b1b; padding: 10px 14px; }
  .notice, .status { background: #e8f3ec; border-left: 4px solid #1d6b3a; padding: 10px 14px; color: #16492a; }
  .terms { background: #f5f7fa; border-radius: 4px; padding: 12px 14px; margin-top: 16px; font-size: 15px; }
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
<footer>${site.orgName} · ${site.orgAddress} · <a href="/subscribe">Receive our releases</a></footer></main></body></html>`;
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
    .header(
      'Content-Security-Policy',
      "default-src 'none'; style-src 'unsafe-inline'; img-src https: http:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    )
    .type('text/html; charset=utf-8')
    .send(page.text);
}

/** The one 404 of the public site: an unknown, embargoed or forged address all look exactly like this. */
export function sendNotFound(reply: FastifyReply, site: PageSite) {
  const body = html`<div class="card"><h1>Page not found</h1><p>There is nothing at this address.</p><p><a href="/releases">All releases</a></p></div>`;
  return sendPage(reply, 404, publicPage(site, 'Page not found', body));
}

export const siteOf = (config: { ORG_NAME: string; ORG_ADDRESS: string }): PageSite => ({
  orgName: config.ORG_NAME,
  orgAddress: config.ORG_ADDRESS,
});
