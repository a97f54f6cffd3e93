import { sameSecret } from '../../signing.js';
import { addressIsBad, type MailEvent } from '../feedback.js';

/**
 * Postmark's bounce and spam-complaint webhooks. Postmark signs nothing: the webhook URL carries
 * basic-auth credentials (https://user:password@host/webhooks/postmark), checked here.
 */
export function postmarkAuthorized(header: string | undefined, user: string, password: string): boolean {
  if (!header?.startsWith('Basic ')) return false;
  return sameSecret(Buffer.from(header.slice(6).trim(), 'base64').toString('utf8'), `${user}:${password}`);
}

/** Bounce types that say the address itself is bad; the soft ones say it may work later. */
const HARD = new Set(['HardBounce', 'BadEmailAddress']);
const SOFT = new Set(['SoftBounce', 'Transient', 'DnsError']);

interface PostmarkRecord {
  RecordType?: string;
  Type?: string;
  ID?: number | string;
  Email?: string;
  Details?: string;
  Description?: string;
}

/** The feedback in one webhook call; null when the body is not a Postmark record at all. */
export function postmarkEvents(body: unknown): MailEvent[] | null {
  if (!body || typeof body !== 'object') return null;
  const r = body as PostmarkRecord;
  if (typeof r.RecordType !== 'string' || typeof r.Email !== 'string' || r.ID === undefined) return null;
  const base = { source: 'postmark' as const, target: { email: r.Email }, eventId: String(r.ID) };
  if (r.RecordType === 'SpamComplaint') return [{ ...base, feedback: { kind: 'complaint', feedbackType: 'abuse' } }];
  if (r.RecordType !== 'Bounce' || !r.Type) return [];
  if (!HARD.has(r.Type) && !SOFT.has(r.Type)) return [];
  const permanent = HARD.has(r.Type);
  const details = r.Details ?? r.Description ?? r.Type;
  const status = /\b([245]\.\d{1,3}\.\d{1,3})\b/.exec(details)?.[1] ?? (permanent ? '5.0.0' : '4.0.0');
  // Transient: Postmark is still trying (a delay); the others end the message.
  return [
    {
      ...base,
      feedback: {
        kind: 'bounce',
        permanent: permanent && addressIsBad(status),
        final: r.Type !== 'Transient',
        status,
        diagnostic: details.slice(0, 1000),
      },
    },
  ];
}
