// One error type for every answer that is not a 2xx: the status and a message sent as {"error": "..."}.
export class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly headers: Record<string, string> = {}) {
    super(message);
    this.name = 'HttpError';
  }
}

export const badRequest = (message: string): HttpError => new HttpError(400, message);

/** Longest echoed string in an error message; error messages as a whole are capped at MAX_ERROR_CHARS. */
export const MAX_ECHO_CHARS = 200;
export const MAX_ERROR_CHARS = 2000;

/** A bounded, non-recursive description of a client value for error messages. */
export function echo(value: unknown): string {
  if (typeof value === 'string') {
    return value.length > MAX_ECHO_CHARS ? `${JSON.stringify(value.slice(0, MAX_ECHO_CHARS))}... (${value.length} characters)` : JSON.stringify(value);
  }
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (typeof value === 'object') return 'an object';
  return `${String(value)} of type ${typeof value}`;
}

/** Refuses an array or object where a scalar option (string, number, boolean) belongs: 400 naming the field. */
export function scalarField(name: string, value: unknown): void {
  if (typeof value === 'object' && value !== null) throw badRequest(`Expected a string, number or boolean for ${name} but received ${echo(value)}`);
}
