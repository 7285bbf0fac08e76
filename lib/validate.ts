// One error builder for option validation, in the shape users know from sharp.
export function invalid(name: string, expected: string, value: unknown): Error {
  const shown = typeof value === 'string' ? JSON.stringify(value) : Array.isArray(value) ? JSON.stringify(value) : String(value);
  return new TypeError(`Expected ${expected} for ${name} but received ${shown} of type ${Array.isArray(value) ? 'array' : typeof value}`);
}

/** Rejects keys not in `allowed`, naming the first unknown one. */
export function rejectUnknownKeys(where: string, options: object, allowed: readonly string[]): void {
  for (const key of Object.keys(options)) {
    if (!allowed.includes(key)) {
      throw new TypeError(`Unknown option ${JSON.stringify(key)} for ${where}; expected one of: ${allowed.join(', ')}`);
    }
  }
}

export function positiveInt(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) throw invalid(name, 'positive integer', value);
  return value;
}

export function nonNegativeInt(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) throw invalid(name, 'non-negative integer', value);
  return value;
}

export function numberIn(name: string, value: unknown, lo: number, hi: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < lo || value > hi) throw invalid(name, `number between ${lo} and ${hi}`, value);
  return value;
}

export function oneOf<T extends string>(name: string, value: unknown, choices: readonly T[]): T {
  if (typeof value !== 'string' || !choices.includes(value as T)) throw invalid(name, `one of ${choices.join(', ')}`, value);
  return value as T;
}

export function booleanOption(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw invalid(name, 'boolean', value);
  return value;
}

/** The first `limit` items, shown and joined, then "and N more": error lists stay short however long the input. */
export function firstAndMore<T>(items: readonly T[], show: (item: T) => string, limit = 5): string {
  const shown = items.slice(0, limit).map(show).join(', ');
  return items.length > limit ? `${shown} and ${items.length - limit} more` : shown;
}
