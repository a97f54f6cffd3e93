import { allows, type Actor } from '../api/auth.js';
import type { Role } from '../states.js';
import { html, type Html } from '../render/html.js';

export type Section =
  'releases' | 'lists' | 'subscribers' | 'access' | 'suppressions' | 'operations' | 'webhooks' | 'accounts' | 'account';

const NAV: Array<{ section: Section; href: string; label: string; roles: Role[] }> = [
  { section: 'releases', href: '/console/releases', label: 'Releases', roles: ['editor', 'operator'] },
  { section: 'lists', href: '/console/lists', label: 'Lists', roles: ['editor'] },
  { section: 'subscribers', href: '/console/subscribers', label: 'People', roles: ['editor'] },
  { section: 'access', href: '/console/access-requests', label: 'Access requests', roles: ['editor'] },
  { section: 'suppressions', href: '/console/suppressions', label: 'Suppressions', roles: ['editor'] },
  { section: 'operations', href: '/console/operations', label: 'Operations', roles: ['operator'] },
  { section: 'webhooks', href: '/console/webhooks', label: 'Webhooks', roles: ['admin'] },
  { section: 'accounts', href: '/console/accounts', label: 'Accounts & tokens', roles: ['admin'] },
];

const head = (title: string, csrf?: string) => html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
${csrf ? html`<meta name="csrf-token" content="${csrf}">` : ''}
<title>${title} · Presslift</title>
<link rel="stylesheet" href="/assets/console.css">
<link rel="icon" href="/assets/favicon.svg" type="image/svg+xml">
<script src="/assets/console.js" defer></script>
</head>`;

const brand = html`<a class="brand" href="/console/releases"><span class="brand-mark" aria-hidden="true">P</span>Presslift</a>`;

/** A signed-in page: navigation by role, the person, sign-out, and the page's CSRF token for scripts. */
export function page(actor: Actor, section: Section, title: string, body: Html, scripts: string[] = []): string {
  const nav = NAV.filter((item) => item.roles.some((role) => allows(actor, role))).map(
    (item) =>
      html`<a href="${item.href}" ${item.section === section ? html`aria-current="page"` : ''}>${item.label}</a>`,
  );
  return html`${head(title, actor.csrfToken)}
<body>
<header class="topbar">
  ${brand}
  <nav class="nav">${nav}</nav>
  <div class="who">
    <a class="who-name" href="/console/account" ${section === 'account' ? html`aria-current="page"` : ''}>${actor.label.replace(/^account:/, '')}</a><span class="role role-${actor.role}">${actor.role}</span>
    <form method="post" action="/console/logout"><input type="hidden" name="_csrf" value="${actor.csrfToken ?? ''}"><button class="link" type="submit">Sign out</button></form>
  </div>
</header>
<main class="main">${body}</main>
${scripts.map((src) => html`<script src="/assets/${src}" defer></script>`)}
</body>
</html>`.text;
}

/** A page for someone not signed in (sign-in, first-admin setup, errors). */
export function bare(title: string, body: Html): string {
  return html`${head(title)}
<body class="bare">
<main class="card narrow">${brand}${body}</main>
</body>
</html>`.text;
}
