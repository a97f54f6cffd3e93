import { hmacHex, sameSecret } from '../../signing.js';
import { addressIsBad, providerTarget, type MailEvent, type VerpReader } from '../feedback.js';

/**
 * Mailgun's webhooks: each body carries signature {timestamp, token, signature}, where signature is
 * the hex HMAC-SHA256 of timestamp + token under the webhook signing key. A timestamp more than
 * five minutes off is stale; a token seen before is a replay (the caller remembers tokens).
 */
export const MAILGUN_MAX_AGE_SECONDS = 300;

export interface MailgunSignature {
  timestamp: string;
  token: string;
  signature: string;
}

export function mailgunSignature(body: unknown): MailgunSignature | null {
  const s = (body as { signature?: Record<string, unknown> } | null)?.signature;
  if (!s || typeof s.timestamp !== 'string' || typeof s.token !== 'string' || typeof s.signature !== 'string')
    return null;
  return { timestamp: s.timestamp, token: s.token, signature: s.signature };
}

export function mailgunSigned(s: MailgunSignature, key: string, nowSeconds = Date.now() / 1000): boolean {
  if (!/^\d{1,12}$/.test(s.timestamp) || Math.abs(nowSeconds - Number(s.timestamp)) > MAILGUN_MAX_AGE_SECONDS)
    return false;
  return sameSecret(s.signature.toLowerCase(), hmacHex(key, s.timestamp + s.token));
}

interface MailgunEventData {
  event?: string;
  severity?: string;
  id?: string;
  recipient?: string;
  envelope?: { sender?: string };
  message?: { headers?: { 'message-id'?: string } };
  'delivery-status'?: { code?: number; message?: string; description?: string; 'enhanced-code'?: string };
}

/** The feedback in a (verified) webhook body: failed (permanent or temporary) and complained events. */
export function mailgunEvents(body: unknown, verp: VerpReader): MailEvent[] | null {
  const e = (body as { 'event-data'?: MailgunEventData } | null)?.['event-data'];
  if (!e || typeof e !== 'object' || typeof e.recipient !== 'string' || typeof e.id !== 'string') return null;
  const target = providerTarget(verp(e.envelope?.sender), e.message?.headers?.['message-id'], e.recipient);
  const base = { source: 'mailgun' as const, target, eventId: e.id };
  if (e.event === 'complained') return [{ ...base, feedback: { kind: 'complaint', feedbackType: 'abuse' } }];
  if (e.event !== 'failed') return [];
  // A temporary failure is one of Mailgun's attempts (it goes on trying); a permanent one ends the message.
  const permanent = e.severity === 'permanent';
  const status = e['delivery-status'] ?? {};
  const diagnostic = [status.code, status.message || status.description].filter(Boolean).join(' ') || null;
  const code = status['enhanced-code'] ?? (permanent ? '5.0.0' : '4.0.0');
  return [
    {
      ...base,
      feedback: {
        kind: 'bounce',
        permanent: permanent && addressIsBad(code),
        final: permanent,
        status: code,
        diagnostic,
      },
    },
  ];
}
