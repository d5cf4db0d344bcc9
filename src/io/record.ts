/**
 * Name -> value records whose keys are data. Assigning `record[name] = value` to a plain object turns the name
 * `__proto__` into a change of the object's prototype and drops the entry; a state dict read from a file may
 * hold any name, so entries are defined rather than assigned.
 */

/** Sets `record[key] = value` as an own, enumerable entry, whatever the key (`__proto__` included). */
export function setEntry<T>(record: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(record, key, { value, enumerable: true, writable: true, configurable: true });
}

/** A record of the entries, in order; every key is kept as data. */
export function recordOf<T>(entries: Iterable<readonly [string, T]>): Record<string, T> {
  const out: Record<string, T> = {};
  for (const [k, v] of entries) setEntry(out, k, v);
  return out;
}
