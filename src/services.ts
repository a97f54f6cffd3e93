/**
 * A service Presslift needs is not there when it starts. The message is one plain line: what is
 * missing, where Presslift looked, and what to do; the CLI prints it and exits 1.
 */
export class ServiceUnreachable extends Error {
  constructor(service: 'PostgreSQL' | 'Redis', url: string, variable: string, cause: unknown) {
    super(
      `${service} is not reachable at ${hostAndPort(url)} (${variable}): ${reason(cause)}. ` +
        `Start ${service} there, or set ${variable} to where it runs.`,
    );
  }
}

/** host:port of a service URL: never its credentials, which logs and terminals must not show. */
function hostAndPort(url: string): string {
  try {
    const { hostname, port, protocol } = new URL(url);
    return `${hostname}:${port || (protocol.startsWith('postgres') ? 5432 : 6379)}`;
  } catch {
    return 'an unreadable URL';
  }
}

function reason(cause: unknown): string {
  const error = cause as { message?: string; code?: string } | undefined;
  const errors = (cause as { errors?: Array<{ message?: string }> } | undefined)?.errors;
  // Node reports a refused dual-stack connect as an AggregateError with an empty message.
  const text = error?.message || errors?.map((e) => e.message).join('; ') || error?.code || String(cause);
  return text.replace(/\.$/, '');
}
