// Turns an ApiError into text for a person, in their language. Server messages for validation
// and conflicts already name the field and are shown as they are; 5xx text is never shown.
import type { Composer } from 'vue-i18n';
import { ApiError } from './client.ts';

type Translate = Composer['t'];

export function describeError(err: unknown, t: Translate): string {
  if (!(err instanceof ApiError)) return t('errors.network');
  if (err.isNetwork) return t('errors.network');
  if (err.status >= 500) return t('errors.server', { requestId: err.requestId ?? '-' });
  if (err.status === 401) return t('errors.sessionEnded');
  if (err.status === 403) return err.message || t('errors.forbidden');
  return err.message;
}
