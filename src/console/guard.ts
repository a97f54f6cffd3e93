import type { Actor } from '../api/auth.js';
import type { Role } from '../states.js';
import { html } from '../render/html.js';
import { bare } from './layout.js';

/** What someone signed in without the role a console page needs sees (src/api/guard.ts sends it). */
export function refusalPage(actor: Actor, roles: Role[]): string {
  return bare(
    'Not allowed',
    html`
<h1>Not allowed</h1>
<p class="alert alert-error" role="alert">This page needs the ${roles.join(' or ')} role; you are signed in as ${actor.role}.</p>
<p><a href="/console">Back to the console</a></p>`,
  );
}

/** A console form that arrived without its CSRF token: usually a page left open across a sign-in. */
export function expiredFormPage(): string {
  return bare(
    'Form expired',
    html`
<h1>This form has expired</h1>
<p class="alert alert-error" role="alert">It did not come from a current Presslift page. Go back, reload the page and try again.</p>
<p><a href="/console">Back to the console</a></p>`,
  );
}
