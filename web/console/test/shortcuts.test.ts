// @vitest-environment happy-dom
// Inbox keyboard shortcuts and agent alerts: single keys act only when not typing; a beep and a
// desktop notification only when the tab is hidden.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { shortcutOf } from '../src/lib/keyboard.ts';
import { alertAgent } from '../src/lib/notify.ts';

function press(key: string, target: HTMLElement, mods: Partial<KeyboardEventInit> = {}) {
  let e!: KeyboardEvent;
  target.addEventListener('keydown', (ev) => (e = ev), { once: true });
  target.dispatchEvent(new KeyboardEvent('keydown', { key, bubbles: true, ...mods }));
  return shortcutOf(e);
}

afterEach(() => {
  vi.unstubAllGlobals();
  document.body.innerHTML = '';
});

describe('inbox shortcuts', () => {
  it('maps keys to actions outside fields, and only Alt+arrows inside them', () => {
    const div = document.body.appendChild(document.createElement('div'));
    const area = document.body.appendChild(document.createElement('textarea'));
    expect(['j', 'k', 'r', 'e', '?', 'x'].map((k) => press(k, div))).toEqual([
      'next',
      'previous',
      'focus',
      'resolve',
      'help',
      null,
    ]);
    expect(['j', 'k', 'r', 'e', '?'].map((k) => press(k, area))).toEqual([null, null, null, null, null]);
    expect(press('ArrowDown', area, { altKey: true })).toBe('next');
    expect(press('ArrowUp', div, { altKey: true })).toBe('previous');
    expect(press('j', div, { ctrlKey: true })).toBeNull();
  });
});

describe('agent alerts', () => {
  it('beep and notify only when the tab is hidden', () => {
    const shown: { title: string; body: string }[] = [];
    const tones: number[] = [];
    class FakeNotification {
      static permission = 'granted';
      onclick: (() => void) | null = null;
      constructor(title: string, opts: { body: string }) {
        shown.push({ title, body: opts.body });
      }
      close() {}
    }
    class FakeAudio {
      state = 'running';
      currentTime = 0;
      destination = {};
      createGain() {
        return { connect() {}, gain: { setValueAtTime() {}, exponentialRampToValueAtTime() {} } };
      }
      createOscillator() {
        return {
          type: '',
          frequency: { setValueAtTime: (f: number) => tones.push(f) },
          connect() {},
          start() {},
          stop() {},
        };
      }
    }
    vi.stubGlobal('Notification', FakeNotification);
    vi.stubGlobal('AudioContext', FakeAudio);
    let hidden = false;
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => hidden });

    alertAgent('新会话', '你好', 'c-1', () => undefined);
    expect(shown).toEqual([]);
    expect(tones).toEqual([]);
    hidden = true;
    alertAgent('新会话', '你好', 'c-1', () => undefined);
    expect(shown).toEqual([{ title: '新会话', body: '你好' }]);
    expect(tones).toEqual([880, 1320]);
  });
});
