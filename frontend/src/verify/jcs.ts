// RFC 8785 JSON Canonicalization Scheme, as backend/core/src/canonical.rs writes it:
// no whitespace, members sorted by UTF-16 code units, minimal string escaping
// (JSON.stringify's escaping is exactly that), numbers as ECMAScript prints them.

export function canonicalize(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new Error('JSON has no NaN or Infinity');
      // JSON.stringify prints -0 as 0 and otherwise uses Number.prototype.toString.
      return JSON.stringify(value);
    case 'string':
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) return `[${value.map(canonicalize).join(',')}]`;
      const record = value as Record<string, unknown>;
      // Default string ordering compares UTF-16 code units, as RFC 8785 asks.
      const names = Object.keys(record)
        .filter((name) => record[name] !== undefined)
        .sort();
      return `{${names.map((name) => `${JSON.stringify(name)}:${canonicalize(record[name])}`).join(',')}}`;
    }
    default:
      throw new Error(`cannot canonicalize a ${typeof value}`);
  }
}
