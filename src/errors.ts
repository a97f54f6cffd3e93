/**
 * What a domain operation refuses, by kind. Only the edges decide what a kind means to their
 * audience: the API maps it to an HTTP status (src/api/errors.ts), the CLI to a message and exit 1.
 */
export type DomainCode = 'not_found' | 'conflict' | 'invalid_input' | 'queue_unavailable';

export class DomainError extends Error {
  constructor(
    readonly code: DomainCode,
    message: string,
    /** For invalid_input: the field at fault, as the API's error details name it. */
    readonly field?: string,
  ) {
    super(message);
  }
}

/** Redis did not take a change that PostgreSQL already holds (or was reverted); the caller may repeat it. */
export class QueueUnavailableError extends DomainError {
  constructor(message: string) {
    super('queue_unavailable', message);
  }
}
