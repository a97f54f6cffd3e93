/** What an endpoint answered: its status (null when it could not be reached) and the start of its body. */
export interface HttpAnswer {
  status: number | null;
  body: string;
}

/** The first characters of an answer are enough to tell staff what went wrong, and keep rows small. */
const KEPT_CHARACTERS = 500;

/**
 * POSTs a JSON body and reads the answer, within `timeoutMs` for the whole exchange: an endpoint
 * that hangs must not hold a worker. Never throws: an unreachable endpoint is an answer too.
 */
export async function postJson(
  url: string,
  body: string,
  headers: Record<string, string>,
  timeoutMs: number,
): Promise<HttpAnswer> {
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'Presslift', ...headers },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.text();
    return { status: response.status, body: text.slice(0, KEPT_CHARACTERS) };
  } catch (error) {
    const cause = (error as Error & { cause?: Error }).cause;
    return {
      status: null,
      body: `${(error as Error).message}${cause ? `: ${cause.message}` : ''}`.slice(0, KEPT_CHARACTERS),
    };
  }
}

export const succeeded = (answer: HttpAnswer) => answer.status !== null && answer.status >= 200 && answer.status < 300;
