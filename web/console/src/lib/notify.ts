// Telling an agent something happened while they look elsewhere: a short beep made with
// WebAudio (no sound file to download) and a desktop notification, both only when the tab is
// hidden. The unread count in the page title is set by the app shell.

let audio: AudioContext | undefined;

/** A short two-tone beep (about 0.25 s). Silently does nothing where audio is not allowed. */
export function beep(): void {
  try {
    const Ctx = globalThis.AudioContext;
    if (!Ctx) return;
    audio ??= new Ctx();
    const ctx = audio;
    if (ctx.state === 'suspended') void ctx.resume().catch(() => undefined);
    const gain = ctx.createGain();
    gain.connect(ctx.destination);
    const t0 = ctx.currentTime;
    gain.gain.setValueAtTime(0.0001, t0);
    gain.gain.exponentialRampToValueAtTime(0.2, t0 + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, t0 + 0.25);
    for (const [freq, at] of [
      [880, 0],
      [1320, 0.1],
    ] as const) {
      const osc = ctx.createOscillator();
      osc.type = 'sine';
      osc.frequency.setValueAtTime(freq, t0 + at);
      osc.connect(gain);
      osc.start(t0 + at);
      osc.stop(t0 + at + 0.12);
    }
  } catch {
    // no audio device, or the browser refused: the title count and the badge still tell
  }
}

export function notificationsSupported(): boolean {
  return typeof globalThis.Notification === 'function';
}

export function notificationPermission(): NotificationPermission | 'unsupported' {
  return notificationsSupported() ? Notification.permission : 'unsupported';
}

export async function askNotificationPermission(): Promise<void> {
  if (notificationsSupported() && Notification.permission === 'default') {
    await Notification.requestPermission().catch(() => undefined);
  }
}

/** A desktop notification (text only); a click brings the tab forward and runs `onClick`. */
export function desktopNotify(title: string, body: string, tag: string, onClick: () => void): void {
  if (!notificationsSupported() || Notification.permission !== 'granted') return;
  try {
    const n = new Notification(title, { body, tag });
    n.onclick = () => {
      globalThis.focus?.();
      onClick();
      n.close();
    };
  } catch {
    // some browsers only allow notifications from a service worker: the beep still plays
  }
}

/** Beep and notify when the tab is hidden; nothing while the agent is looking at the inbox. */
export function alertAgent(title: string, body: string, tag: string, onClick: () => void): void {
  if (typeof document === 'undefined' || !document.hidden) return;
  beep();
  desktopNotify(title, body, tag, onClick);
}
