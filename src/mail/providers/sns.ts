import { createVerify, X509Certificate } from 'node:crypto';

/**
 * Amazon SNS message signatures, as SNS signs what it posts to an HTTPS subscriber: an RSA
 * signature (SHA1 for SignatureVersion 1, SHA256 for 2) over named fields, checked against the
 * certificate at SigningCertURL, which must be an SNS host's own https URL.
 */
export interface SnsMessage {
  Type: 'Notification' | 'SubscriptionConfirmation' | 'UnsubscribeConfirmation';
  MessageId: string;
  TopicArn: string;
  Message: string;
  Timestamp: string;
  SignatureVersion: '1' | '2';
  Signature: string;
  SigningCertURL: string;
  Subject?: string;
  Token?: string;
  SubscribeURL?: string;
}

/** Fetches a URL's body as text; injected so tests (and proxies) can stand in for the network. */
export type FetchText = (url: string) => Promise<string>;

export const fetchText: FetchText = async (url) => {
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000), redirect: 'error' });
  if (!response.ok) throw new Error(`GET ${url}: ${response.status}`);
  return response.text();
};

/**
 * An SNS endpoint of some region, over https: the only place a signing certificate or a subscription confirmation may
 * come from.
 */
export function isSnsUrl(value: string | undefined): boolean {
  if (!value) return false;
  try {
    const url = new URL(value);
    return (
      url.protocol === 'https:' &&
      /^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$/.test(url.hostname) &&
      !url.username &&
      !url.port
    );
  } catch {
    return false;
  }
}

const FIELDS: Record<SnsMessage['Type'], Array<keyof SnsMessage>> = {
  Notification: ['Message', 'MessageId', 'Subject', 'Timestamp', 'TopicArn', 'Type'],
  SubscriptionConfirmation: ['Message', 'MessageId', 'SubscribeURL', 'Timestamp', 'Token', 'TopicArn', 'Type'],
  UnsubscribeConfirmation: ['Message', 'MessageId', 'SubscribeURL', 'Timestamp', 'Token', 'TopicArn', 'Type'],
};

/** The string SNS signs: each present field's name and value, one per line. */
export function snsStringToSign(message: SnsMessage): string {
  return FIELDS[message.Type]
    .filter((field) => message[field] !== undefined)
    .map((field) => `${field}\n${message[field]}\n`)
    .join('');
}

/** A parsed body that has every field a signed SNS message has (not yet verified). */
export function asSnsMessage(body: unknown): SnsMessage | null {
  if (!body || typeof body !== 'object') return null;
  const m = body as Record<string, unknown>;
  const strings = ['MessageId', 'TopicArn', 'Message', 'Timestamp', 'Signature', 'SigningCertURL'].every(
    (k) => typeof m[k] === 'string',
  );
  if (
    !strings ||
    !(m.Type === 'Notification' || m.Type === 'SubscriptionConfirmation' || m.Type === 'UnsubscribeConfirmation')
  )
    return null;
  if (m.SignatureVersion !== '1' && m.SignatureVersion !== '2') return null;
  return m as unknown as SnsMessage;
}

/** Verifies SNS signatures, fetching each signing certificate once (SNS rotates them rarely). */
export class SnsVerifier {
  private readonly certificates = new Map<string, Promise<X509Certificate>>();
  constructor(private readonly fetch: FetchText) {}

  async verify(message: SnsMessage): Promise<boolean> {
    if (!isSnsUrl(message.SigningCertURL) || !new URL(message.SigningCertURL).pathname.endsWith('.pem')) return false;
    let certificate: X509Certificate;
    try {
      certificate = await this.certificate(message.SigningCertURL);
    } catch {
      return false;
    }
    const verifier = createVerify(message.SignatureVersion === '1' ? 'RSA-SHA1' : 'RSA-SHA256');
    verifier.update(snsStringToSign(message), 'utf8');
    return verifier.verify(certificate.publicKey, message.Signature, 'base64');
  }

  private certificate(url: string): Promise<X509Certificate> {
    let pending = this.certificates.get(url);
    if (!pending) {
      if (this.certificates.size >= 32) this.certificates.clear();
      pending = this.fetch(url).then((pem) => new X509Certificate(pem));
      // A failed fetch is not remembered: the next message tries again.
      pending.catch(() => this.certificates.delete(url));
      this.certificates.set(url, pending);
    }
    return pending;
  }
}
