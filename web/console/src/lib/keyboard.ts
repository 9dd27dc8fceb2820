// Global keyboard shortcuts of the inbox. Single keys act only when the agent is not typing
// (an input, a textarea, a select or anything contenteditable has the focus).

export type ShortcutAction = 'next' | 'previous' | 'focus' | 'resolve' | 'help';

/** The keys, in the order the help overlay lists them. */
export const SHORTCUTS: readonly { keys: string[]; action: ShortcutAction | 'leave' }[] = [
  { keys: ['j', 'Alt+↓'], action: 'next' },
  { keys: ['k', 'Alt+↑'], action: 'previous' },
  { keys: ['r'], action: 'focus' },
  { keys: ['e'], action: 'resolve' },
  { keys: ['Esc'], action: 'leave' },
  { keys: ['?'], action: 'help' },
];

export function isTyping(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable) return true;
  return ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName);
}

/** The action a key press asks for, or null. */
export function shortcutOf(e: KeyboardEvent): ShortcutAction | null {
  if (e.ctrlKey || e.metaKey || e.isComposing) return null;
  // Alt+arrows move between conversations even from the composer.
  if (e.altKey) {
    if (e.key === 'ArrowDown') return 'next';
    if (e.key === 'ArrowUp') return 'previous';
    return null;
  }
  if (isTyping(e.target)) return null;
  switch (e.key) {
    case 'j':
      return 'next';
    case 'k':
      return 'previous';
    case 'r':
      return 'focus';
    case 'e':
      return 'resolve';
    case '?':
      return 'help';
    default:
      return null;
  }
}
