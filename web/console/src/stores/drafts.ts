// Half-typed replies, one per conversation, kept in localStorage so that a session expiry, a
// reload or a crash does not lose them. Keyed by user, so a colleague on the same browser never
// sees them; an explicit sign-out clears that user's drafts, an expiry does not.
import { defineStore } from 'pinia';
import { ref, watch } from 'vue';

export const DRAFTS_STORAGE_KEY = 'parley.drafts.v1';
/** Drafts untouched this long are dropped. */
export const DRAFT_MAX_AGE_MS = 14 * 24 * 3600 * 1000;

interface Draft {
  text: string;
  updatedAt: number;
}
type DraftsByUser = Record<string, Record<string, Draft>>;

function read(): DraftsByUser {
  try {
    const raw = globalThis.localStorage?.getItem(DRAFTS_STORAGE_KEY);
    const parsed: unknown = raw ? JSON.parse(raw) : {};
    return typeof parsed === 'object' && parsed !== null ? (parsed as DraftsByUser) : {};
  } catch {
    return {};
  }
}

function prune(all: DraftsByUser, now: number): DraftsByUser {
  const out: DraftsByUser = {};
  for (const [userId, drafts] of Object.entries(all)) {
    const kept = Object.entries(drafts).filter(
      ([, d]) => typeof d?.text === 'string' && d.text !== '' && now - d.updatedAt < DRAFT_MAX_AGE_MS,
    );
    if (kept.length > 0) out[userId] = Object.fromEntries(kept);
  }
  return out;
}

export const useDraftsStore = defineStore('drafts', () => {
  const all = ref<DraftsByUser>(prune(read(), Date.now()));

  watch(
    all,
    (value) => {
      try {
        globalThis.localStorage?.setItem(DRAFTS_STORAGE_KEY, JSON.stringify(value));
      } catch {
        // Storage full or disabled: drafts then live as long as the tab.
      }
    },
    { deep: true },
  );

  function get(userId: string, conversationId: string): string {
    return all.value[userId]?.[conversationId]?.text ?? '';
  }

  function set(userId: string, conversationId: string, text: string): void {
    if (text === '') return clear(userId, conversationId);
    all.value[userId] = { ...all.value[userId], [conversationId]: { text, updatedAt: Date.now() } };
  }

  function clear(userId: string, conversationId: string): void {
    const drafts = all.value[userId];
    if (!drafts || !(conversationId in drafts)) return;
    const { [conversationId]: _gone, ...rest } = drafts;
    if (Object.keys(rest).length === 0) delete all.value[userId];
    else all.value[userId] = rest;
  }

  function clearUser(userId: string): void {
    delete all.value[userId];
  }

  return { get, set, clear, clearUser };
});
