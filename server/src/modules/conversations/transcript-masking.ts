// Transcript masking (security setting `transcriptMasking`, off by default): phone numbers, PRC
// ID-card numbers and bank-card numbers typed in chat are stored masked, so every view of the
// message (agents, WebSocket events, previews, search, audit details, exports) shows the masked
// text. The text as typed is sealed with the key ring into message_originals, bound to its
// message id; it comes back only through an audited reveal or the data subject's own export.
import { maskTranscript, type SensitiveKind } from '../../platform/crypto/pii.ts';

/** The encryption context of a message's original: it only opens for that message. */
export const messageOriginalContext = (messageId: string) => `messages.original:${messageId}`;

export interface MaskedText {
  /** What is stored in messages.body and shown everywhere. */
  body: string;
  /** The text as typed (sealed into message_originals; never stored in clear). */
  original: string;
  kinds: SensitiveKind[];
}

export interface TranscriptMasking {
  /** The masked form of a message text, or null when masking is off or nothing was found. */
  mask(text: string): Promise<MaskedText | null>;
}

export function createTranscriptMasking(deps: { enabled: () => Promise<boolean> }): TranscriptMasking {
  return {
    async mask(text) {
      if (!(await deps.enabled())) return null;
      const { masked, findings } = maskTranscript(text);
      if (findings.length === 0) return null;
      return { body: masked, original: text, kinds: [...new Set(findings.map((f) => f.kind))] };
    },
  };
}

/** Masking off: what services get when nothing is configured (unit tests, tools). */
export const NO_TRANSCRIPT_MASKING: TranscriptMasking = { mask: () => Promise.resolve(null) };
