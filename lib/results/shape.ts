// Shapes of result documents, checked at run time: each result module declares its document's shape
// once, and its guard, `connlab merge`, `connlab report` and the specs all check documents against it.
// A check collects every problem with the path where it is (`latency.ack.p99: expected a number, got
// undefined`), so a file that is not what it claims says where.

export type Check = (value: unknown, path: string, problems: string[]) => void;

const describe = (value: unknown): string => (value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value === 'string' ? JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value) : typeof value === 'object' ? 'an object' : String(value));

const typed = (type: 'string' | 'number' | 'boolean', noun: string): Check => (value, path, problems) => {
  if (typeof value !== type || (type === 'number' && !Number.isFinite(value))) problems.push(`${path}: expected ${noun}, got ${describe(value)}`);
};

export const str = typed('string', 'a string');
export const num = typed('number', 'a number');
export const bool = typed('boolean', 'true or false');

/** Exactly this value (a document's `kind`, say). */
export const literal = (expected: string | number | boolean): Check => (value, path, problems) => {
  if (value !== expected) problems.push(`${path}: expected ${describe(expected)}, got ${describe(value)}`);
};

/** One of these values. */
export const oneOf = (...choices: Array<string | number | boolean>): Check => (value, path, problems) => {
  if (!choices.includes(value as string)) problems.push(`${path}: expected one of ${choices.map(describe).join(', ')}, got ${describe(value)}`);
};

/** Absent, or of this shape. */
export const optional = (check: Check): Check => (value, path, problems) => {
  if (value !== undefined) check(value, path, problems);
};

/** A string or null. */
export const nullable = (check: Check): Check => (value, path, problems) => {
  if (value !== null) check(value, path, problems);
};

export const arrayOf = (check: Check): Check => (value, path, problems) => {
  if (!Array.isArray(value)) return void problems.push(`${path}: expected an array, got ${describe(value)}`);
  // A long series need not be checked point by point: its first and last points show its shape.
  const indexes = value.length <= 20 ? value.keys() : [0, 1, value.length - 1].values();
  for (const i of indexes) check(value[i], `${path}[${i}]`, problems);
};

/** An object with these fields (others are allowed: documents gain fields, never lose them). */
export const object = (fields: Record<string, Check>): Check => (value, path, problems) => {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return void problems.push(`${path || 'the document'}: expected an object, got ${describe(value)}`);
  for (const [key, check] of Object.entries(fields)) check((value as Record<string, unknown>)[key], path ? `${path}.${key}` : key, problems);
};

/** An object whose every field is a number: error tallies, counts by status. */
export const counts: Check = (value, path, problems) => {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return void problems.push(`${path}: expected counts by name, got ${describe(value)}`);
  for (const [key, n] of Object.entries(value)) num(n, `${path}.${key}`, problems);
};

/** A run's thresholds as its document carries them: `[{ expr, value, ok }]`. */
export const THRESHOLDS_SHAPE: Check = arrayOf(object({ expr: str, value: nullable(num), ok: bool }));

/** Every problem `value` has against `check`; empty when it fits. */
export function problemsOf(value: unknown, check: Check): string[] {
  const problems: string[] = [];
  check(value, '', problems);
  return problems;
}
