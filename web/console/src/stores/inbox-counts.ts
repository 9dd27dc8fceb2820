// The inbox tabs' counts: open conversations where work waits for this agent in each tab
// (unassigned, or theirs with unread visitor messages; counted by the server). Refetched shortly
// after anything in the inbox changes, so they stay live without a request per event.
import { defineStore } from 'pinia';
import { ref } from 'vue';
import { api } from '../api/client.ts';
import type { InboxCounts } from '../api/types.ts';

export type InboxTab = keyof InboxCounts;
/** The tabs in the order they are shown and in which the console looks for waiting work. */
export const INBOX_TABS: readonly InboxTab[] = ['mine', 'unassigned', 'team', 'all'];

export const useInboxCountsStore = defineStore('inbox-counts', () => {
  const counts = ref<InboxCounts | null>(null);
  let timer: ReturnType<typeof setTimeout> | undefined;
  let request = 0;

  async function load(): Promise<InboxCounts | null> {
    const mine = ++request;
    try {
      const next = await api.conversations.counts();
      if (mine === request) counts.value = next;
    } catch {
      // Counts are a hint; the lists still work. The next change tries again.
    }
    return counts.value;
  }

  /** Many events can arrive at once: one request after a short pause. */
  function refreshSoon(): void {
    clearTimeout(timer);
    timer = setTimeout(() => void load(), 250);
  }

  /** Where the agent should land: the first tab with waiting work, else "mine". */
  function busiestFirst(): InboxTab {
    return INBOX_TABS.find((tab) => (counts.value?.[tab] ?? 0) > 0) ?? 'mine';
  }

  function reset(): void {
    clearTimeout(timer);
    counts.value = null;
  }

  return { counts, load, refreshSoon, busiestFirst, reset };
});
