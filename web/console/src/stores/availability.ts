// Agents' availability: what each chose (online, busy, away, offline; stored on the server) and
// whether they have the console open (presence). A colleague shows as their choice while
// connected, as offline otherwise. Fed by GET /api/v1/availability and the realtime events
// 'availability' (a choice changed) and 'presence' (connected or not), within a second.
import { defineStore } from 'pinia';
import { ref } from 'vue';
import type { AgentAvailability } from '../../../../server/src/realtime/events.ts';
import { api } from '../api/client.ts';

export type { AgentAvailability };
export const AVAILABILITY_CHOICES: readonly AgentAvailability[] = ['online', 'busy', 'away', 'offline'];

export const useAvailabilityStore = defineStore('availability', () => {
  const chosen = ref<Record<string, AgentAvailability>>({});
  const connected = ref<Record<string, boolean>>({});

  async function load(): Promise<void> {
    const { agents } = await api.availability.list();
    chosen.value = Object.fromEntries(agents.map((a) => [a.userId, a.status]));
    connected.value = Object.fromEntries(agents.map((a) => [a.userId, a.connected]));
  }

  async function setOwn(userId: string, status: AgentAvailability): Promise<void> {
    const saved = await api.availability.setOwn(status);
    chosen.value = { ...chosen.value, [userId]: saved.status };
  }

  /** What colleagues see. */
  function statusOf(userId: string): AgentAvailability {
    if (connected.value[userId] === false) return 'offline';
    return chosen.value[userId] ?? 'online';
  }

  /** The status the user chose for themselves (their own control shows it). */
  function choiceOf(userId: string): AgentAvailability {
    return chosen.value[userId] ?? 'online';
  }

  return {
    chosen,
    connected,
    load,
    setOwn,
    statusOf,
    choiceOf,
    /** Realtime: a choice changed. */
    changed(userId: string, status: AgentAvailability) {
      chosen.value = { ...chosen.value, [userId]: status };
    },
    /** Realtime: the user's console connected or went away entirely. */
    presence(userId: string, online: boolean) {
      connected.value = { ...connected.value, [userId]: online };
    },
  };
});
