// Keeps a chat thread pinned to its newest message, the way every chat product behaves: it opens
// at the bottom and stays there while the reader is there (within a small threshold), also when
// content grows later (an image or file card that loads late, a typing line); when the reader
// scrolls up to read history it does not move, and counts the messages that arrived meanwhile so
// the caller can show a "new messages ↓" button. Framework-free: the visitor widget (size budget)
// and the console's thread (Vue) both use it.

export interface ScrollPinState {
  /** Following the newest message. */
  pinned: boolean;
  /** Messages that arrived while not pinned (reset when the reader is back at the bottom). */
  unseen: number;
}

export interface ScrollPin {
  readonly pinned: boolean;
  readonly unseen: number;
  /** New messages were added: follow them when pinned, else count the ones from others. */
  added(fromOthers: number): void;
  /** Scroll to the newest message and follow it (open, reopen, own message, the button). */
  toBottom(): void;
  /** Watch another element whose size changes move the content (e.g. a re-rendered list). */
  observe(el: Element): void;
  stop(): void;
}

/** How close to the bottom (px) still counts as "at the bottom". */
export const PIN_THRESHOLD_PX = 48;

export function createScrollPin(
  box: HTMLElement,
  onChange: (state: ScrollPinState) => void = () => undefined,
  threshold = PIN_THRESHOLD_PX,
): ScrollPin {
  let pinned = true;
  let unseen = 0;
  let lastTop = box.scrollTop;

  const distance = () => box.scrollHeight - box.scrollTop - box.clientHeight;
  const notify = () => onChange({ pinned, unseen });
  const jump = () => {
    box.scrollTop = box.scrollHeight;
    lastTop = box.scrollTop;
  };

  const onScroll = () => {
    const top = box.scrollTop;
    if (distance() <= threshold) {
      if (!pinned || unseen) {
        pinned = true;
        unseen = 0;
        notify();
      }
    } else if (top < lastTop && pinned) {
      // Only the reader moving up unpins: content growing below (which the browser may report
      // as a scroll event) never does.
      pinned = false;
      notify();
    }
    lastTop = top;
  };
  box.addEventListener('scroll', onScroll, { passive: true });

  // Any size change of the box or its content (late images, the frame being shown again, the
  // list re-rendered) keeps a pinned thread at the bottom, before the frame is painted.
  const resized = new ResizeObserver(() => {
    if (pinned) jump();
  });
  resized.observe(box);
  for (const child of Array.from(box.children)) resized.observe(child);

  return {
    get pinned() {
      return pinned;
    },
    get unseen() {
      return unseen;
    },
    added(fromOthers) {
      if (pinned) jump();
      else if (fromOthers > 0) {
        unseen += fromOthers;
        notify();
      }
    },
    toBottom() {
      pinned = true;
      unseen = 0;
      jump();
      notify();
    },
    observe(el) {
      resized.observe(el);
    },
    stop() {
      resized.disconnect();
      box.removeEventListener('scroll', onScroll);
    },
  };
}
