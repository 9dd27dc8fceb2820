// Messages the visitor typed that the server has not acknowledged yet. They are kept in the
// frame's localStorage, so a reload or a page navigation does not lose them, and resent on
// every (re)connect: the client id makes a resend the same message, never a second one.

export interface KeyValueStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export interface QueuedMessage {
  clientId: string;
  text: string;
  createdAt: string;
}

export function createOutbox(store: KeyValueStore, key: string) {
  function load(): QueuedMessage[] {
    try {
      const v = JSON.parse(store.getItem(key) ?? '[]') as unknown;
      return Array.isArray(v)
        ? v.filter(
            (x): x is QueuedMessage =>
              typeof x === 'object' &&
              x !== null &&
              typeof (x as QueuedMessage).clientId === 'string' &&
              typeof (x as QueuedMessage).text === 'string',
          )
        : [];
    } catch {
      return [];
    }
  }
  function save(items: QueuedMessage[]) {
    if (items.length === 0) store.removeItem(key);
    else store.setItem(key, JSON.stringify(items));
  }
  return {
    all: load,
    add(item: QueuedMessage) {
      const items = load();
      if (!items.some((i) => i.clientId === item.clientId)) items.push(item);
      save(items);
    },
    /** The server has it (ack or the message itself): never send it again. */
    remove(clientId: string) {
      const items = load();
      const rest = items.filter((i) => i.clientId !== clientId);
      if (rest.length !== items.length) save(rest);
    },
  };
}

export type Outbox = ReturnType<typeof createOutbox>;

/** A client id: random, URL-safe, within the protocol's 8–64 characters. */
export function newClientId(): string {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return `w-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

/** The frame's own localStorage, or null where the browser refuses it to a third-party frame
 * (Safari, private windows, blocked third-party cookies). */
export function nativeStorage(): KeyValueStore | null {
  try {
    const probe = '__parley_probe__';
    localStorage.setItem(probe, '1');
    localStorage.removeItem(probe);
    return localStorage;
  } catch {
    return null;
  }
}

/**
 * Storage kept in memory and mirrored to the embedding page (the loader keeps it in the
 * page's first-party localStorage and hands it back on the next load), for browsers that
 * give a third-party frame no storage of its own.
 */
export function mirroredStorage(
  initial: Record<string, string>,
  mirror: (key: string, value: string | null) => void,
): KeyValueStore {
  const m = new Map(Object.entries(initial).filter(([, v]) => typeof v === 'string'));
  return {
    getItem: (k) => m.get(k) ?? null,
    setItem: (k, v) => {
      m.set(k, v);
      mirror(k, v);
    },
    removeItem: (k) => {
      m.delete(k);
      mirror(k, null);
    },
  };
}
