// @vitest-environment happy-dom
import { createPinia, setActivePinia } from 'pinia';
import { nextTick } from 'vue';
import { beforeEach, describe, expect, it } from 'vitest';
import { DRAFT_MAX_AGE_MS, DRAFTS_STORAGE_KEY, useDraftsStore } from '../src/stores/drafts.ts';

/** A fresh app start (new Pinia) reading what the previous one left in localStorage. */
function restart() {
  setActivePinia(createPinia());
  return useDraftsStore();
}

describe('reply drafts', () => {
  beforeEach(() => localStorage.clear());

  it('survive a restart of the app, per user and conversation', async () => {
    const drafts = restart();
    drafts.set('u1', 'c1', '您好，请稍等');
    drafts.set('u1', 'c2', 'second');
    drafts.set('u2', 'c1', 'someone else');
    await nextTick();
    const after = restart();
    expect(after.get('u1', 'c1')).toBe('您好，请稍等');
    expect(after.get('u1', 'c2')).toBe('second');
    expect(after.get('u2', 'c1')).toBe('someone else');
    expect(after.get('u1', 'c3')).toBe('');
  });

  it('forget a conversation when cleared or emptied, and a user on sign-out', async () => {
    const drafts = restart();
    drafts.set('u1', 'c1', 'a');
    drafts.set('u1', 'c2', 'b');
    drafts.set('u2', 'c1', 'c');
    drafts.clear('u1', 'c1');
    drafts.set('u1', 'c2', '');
    drafts.clearUser('u2');
    await nextTick();
    expect(JSON.parse(localStorage.getItem(DRAFTS_STORAGE_KEY)!)).toEqual({});
  });

  it('drop drafts untouched for too long, and survive garbage in storage', () => {
    const old = Date.now() - DRAFT_MAX_AGE_MS - 1000;
    localStorage.setItem(
      DRAFTS_STORAGE_KEY,
      JSON.stringify({
        u1: { stale: { text: 'old', updatedAt: old }, fresh: { text: 'new', updatedAt: Date.now() } },
      }),
    );
    const drafts = restart();
    expect(drafts.get('u1', 'stale')).toBe('');
    expect(drafts.get('u1', 'fresh')).toBe('new');
    localStorage.setItem(DRAFTS_STORAGE_KEY, '{not json');
    expect(restart().get('u1', 'fresh')).toBe('');
  });
});
