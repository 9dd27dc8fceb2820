// Off hours: outside the team's business hours the frame says when the team opens
// ("客服将于 周一 09:00 上线") and offers a leave-a-message form (name, phone or email, the
// question). The message becomes the visitor's conversation (POST /api/v1/widget/leave-message);
// the frame then shows it like any chat, and the visitor comes back to it later. Builds its own
// DOM; the frame only mounts it and says what to do on submit.
import type { Locale, Messages } from './i18n.ts';

export interface SiteHours {
  open: boolean;
  nextOpening: string | null;
  timeZone: string;
}

export interface LeaveMessageInput {
  name: string;
  phone?: string;
  email?: string;
  question: string;
  consent: boolean;
}

const PHONE_RE = /^[0-9+()\- .]{3,32}$/;
const EMAIL_RE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** "周一 09:00" / "Mon 09:00" in the team's zone; with the date when it is a week or more away. */
export function formatOpening(iso: string, timeZone: string, locale: Locale, now = Date.now()): string {
  const at = new Date(iso);
  const far = at.getTime() - now >= 6 * 86_400_000;
  const viewerZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const day = new Intl.DateTimeFormat(locale, {
    timeZone,
    ...(far ? { month: 'short', day: 'numeric' } : {}),
    weekday: 'short',
  }).format(at);
  const time = new Intl.DateTimeFormat(locale, {
    timeZone,
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
    ...(viewerZone !== timeZone ? { timeZoneName: 'short' } : {}),
  }).format(at);
  return `${day} ${time}`;
}

export function createOffHours(opts: {
  doc: Document;
  /** The notice goes right before this element (the thread area), always in view. */
  noticeBefore: HTMLElement;
  /** The form goes right before this element (the composer). */
  formBefore: HTMLElement;
  texts: () => Messages;
  locale: () => Locale;
  submit: (input: LeaveMessageInput) => Promise<void>;
}) {
  const { doc } = opts;
  const el = <K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string) => {
    const e = doc.createElement(tag);
    if (cls) e.className = cls;
    return e;
  };
  let hours: SiteHours | null = null;

  const notice = el('div', 'pw-offhours-notice');
  notice.setAttribute('role', 'status');
  notice.dataset.test = 'off-hours-notice';
  notice.hidden = true;
  opts.noticeBefore.before(notice);

  const form = el('form', 'pw-prechat pw-offhours');
  form.noValidate = true;
  form.hidden = true;
  form.dataset.test = 'leave-message';
  const title = el('p', 'pw-prechat-title');
  const field = (name: string, type: string, autocomplete: string, max: number) => {
    const label = el('label');
    const span = el('span');
    const input = type === 'textarea' ? el('textarea') : el('input');
    input.name = name;
    if (input instanceof HTMLInputElement) input.type = type;
    input.setAttribute('autocomplete', autocomplete);
    input.maxLength = max;
    label.append(span, input);
    return { label, span, input };
  };
  const name = field('name', 'text', 'name', 80);
  const phone = field('phone', 'tel', 'tel', 32);
  const email = field('email', 'email', 'email', 254);
  const question = field('question', 'textarea', 'off', 4000);
  (question.input as HTMLTextAreaElement).rows = 3;
  const consentLabel = el('label', 'pw-consent');
  const consent = el('input');
  consent.type = 'checkbox';
  consent.name = 'consent';
  const consentText = el('span');
  consentLabel.append(consent, consentText);
  const error = el('p', 'pw-form-error');
  error.setAttribute('role', 'alert');
  error.hidden = true;
  const actions = el('div', 'pw-prechat-actions');
  const send = el('button', 'pw-primary');
  send.type = 'submit';
  actions.append(send);
  form.append(title, name.label, phone.label, email.label, question.label, consentLabel, error, actions);
  opts.formBefore.before(form);

  function applyTexts() {
    const t = opts.texts();
    title.textContent = t.leaveTitle;
    name.span.textContent = t.name;
    phone.span.textContent = t.phone;
    email.span.textContent = t.email;
    question.span.textContent = t.question;
    consentText.textContent = t.leaveConsent;
    send.textContent = t.leaveSend;
    if (hours && !hours.open) {
      notice.textContent = hours.nextOpening
        ? t.opensAt.replace('{when}', formatOpening(hours.nextOpening, hours.timeZone, opts.locale()))
        : t.closedNow;
    }
  }

  function fail(message: string) {
    error.textContent = message;
    error.hidden = false;
  }

  form.addEventListener('input', () => (error.hidden = true));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const t = opts.texts();
    const v = {
      name: name.input.value.trim(),
      phone: phone.input.value.trim(),
      email: email.input.value.trim(),
      question: question.input.value.trim(),
    };
    if (!v.name) return fail(t.nameRequired);
    if (!v.phone && !v.email) return fail(t.contactRequired);
    if (v.phone && !PHONE_RE.test(v.phone)) return fail(t.phoneInvalid);
    if (v.email && !EMAIL_RE.test(v.email)) return fail(t.emailInvalid);
    if (!v.question) return fail(t.questionRequired);
    if (!consent.checked) return fail(t.consentRequired);
    error.hidden = true;
    send.disabled = true;
    void opts
      .submit({
        name: v.name,
        ...(v.phone ? { phone: v.phone } : {}),
        ...(v.email ? { email: v.email } : {}),
        question: v.question,
        consent: true,
      })
      .then(
        () => {
          form.hidden = true;
          form.reset();
        },
        (err: unknown) => fail(err instanceof Error ? err.message : String(err)),
      )
      .finally(() => (send.disabled = false));
  });

  return {
    applyTexts,
    /** New hours from the server. Returns whether the form is shown (the frame hides its own forms). */
    update(next: SiteHours, hasConversation: boolean): boolean {
      hours = next;
      notice.hidden = next.open;
      form.hidden = next.open || hasConversation;
      applyTexts();
      return !form.hidden;
    },
    get formShown() {
      return !form.hidden;
    },
  };
}
