import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { setupLink } from '../../src/processes.js';
import type { Harness } from './harness.js';

export const PASSWORD = 'a long enough password';

/** A browser-like client of the console: keeps cookies and reads the CSRF token of each page. */
export function consoleClient(h: Harness, remoteAddress = '127.0.0.1') {
  const jar = new Map<string, string>();
  const request = async (options: InjectOptions): Promise<LightMyRequestResponse> => {
    const response = await h.app.inject({
      remoteAddress,
      ...options,
      headers: { ...(options.headers ?? {}), cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') },
    });
    for (const cookie of response.cookies as Array<{ name: string; value: string; expires?: Date }>) {
      if (cookie.value === '' || (cookie.expires && cookie.expires.getTime() < Date.now())) jar.delete(cookie.name);
      else jar.set(cookie.name, cookie.value);
    }
    return response;
  };
  const formToken = (body: string) => /name="_csrf" value="([^"]+)"/.exec(body)?.[1] ?? '';
  const metaToken = (body: string) => /name="csrf-token" content="([^"]+)"/.exec(body)?.[1] ?? '';
  /** Fetches a form page and posts the fields to `action` with the page's CSRF token. */
  const submit = async (pageUrl: string, action: string, fields: Record<string, string>) => {
    const page = await request({ method: 'GET', url: pageUrl });
    return request({ method: 'POST', url: action, payload: { ...fields, _csrf: formToken(page.body) } });
  };
  return {
    jar,
    request,
    formToken,
    metaToken,
    submit,
    /**
     * Makes the first admin through the first-start setup link, signed in from then on: the
     * answer, and the link's token.
     */
    async setUpFirstAdmin(email: string) {
      const link = new URL((await setupLink(h.ctx))!);
      const token = link.searchParams.get('token')!;
      const answer = await submit(`${link.pathname}${link.search}`, '/console/setup', {
        token,
        email,
        password: PASSWORD,
        confirm: PASSWORD,
      });
      return { answer, token };
    },
    async signIn(email: string, password = PASSWORD) {
      const page = await request({ method: 'GET', url: '/console/login' });
      return request({
        method: 'POST',
        url: '/console/login',
        payload: { email, password, _csrf: formToken(page.body) },
      });
    },
    /** The CSRF token of a signed-in page. */
    async pageToken() {
      return metaToken((await request({ method: 'GET', url: '/console/releases' })).body);
    },
  };
}
