// Immutable updates of a page's list of records (users, teams, replies) by id.
/** The list with one record replaced by its new version (matched by id). */
export function replaceById<T extends { id: string }>(list: T[], updated: T): T[] {
  return list.map((x) => (x.id === updated.id ? updated : x));
}

/** The list without the record of this id. */
export function withoutId<T extends { id: string }>(list: T[], id: string): T[] {
  return list.filter((x) => x.id !== id);
}
