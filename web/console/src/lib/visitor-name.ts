// What an anonymous visitor is called: "访客 4F2A" / "Visitor 4F2A", from the last characters of
// their contact id, so agents can tell two anonymous visitors apart (and say which they mean).
import type { Conversation } from '../api/types.ts';

type Translate = (key: string, named: Record<string, unknown>) => string;

export function visitorTag(contactId: string): string {
  return contactId.replace(/-/g, '').slice(-4).toUpperCase();
}

export function contactDisplayName(
  contact: Pick<Conversation['contact'], 'id' | 'name'>,
  t: Translate,
): string {
  return contact.name ?? t('inbox.anonymousNamed', { tag: visitorTag(contact.id) });
}
