// Placeholders in canned replies, such as {{contact.name}} or {{agent.name|our team}}.
// Pure and dependency-free: the server validates templates with it and the console fills them
// on insert, so both sides agree on the syntax.

/** The placeholders a canned reply may use, and what each stands for. */
export const PLACEHOLDERS = ['contact.name', 'contact.phone', 'contact.email', 'agent.name'] as const;
export type PlaceholderName = (typeof PLACEHOLDERS)[number];

export type PlaceholderValues = Partial<Record<PlaceholderName, string | null | undefined>>;

// {{ name }} or {{ name | fallback }}; names are dotted words, the fallback is any text without braces.
const PATTERN = /\{\{\s*([a-zA-Z][\w]*(?:\.[a-zA-Z][\w]*)*)\s*(?:\|([^{}]*))?\}\}/g;

export function isPlaceholderName(name: string): name is PlaceholderName {
  return (PLACEHOLDERS as readonly string[]).includes(name);
}

/** Every placeholder name used in a template, in order of first use. */
export function placeholdersIn(template: string): string[] {
  const seen: string[] = [];
  for (const match of template.matchAll(PATTERN)) {
    const name = match[1]!;
    if (!seen.includes(name)) seen.push(name);
  }
  return seen;
}

/** Placeholder names in the template that Parley does not know (probably typos). */
export function unknownPlaceholders(template: string): string[] {
  return placeholdersIn(template).filter((name) => !isPlaceholderName(name));
}

/**
 * Fills known placeholders with the given values. A missing or blank value gives the fallback
 * after `|` (trimmed), or nothing. Unknown placeholders are left as written so a typo shows.
 */
export function fillPlaceholders(template: string, values: PlaceholderValues): string {
  return template.replace(PATTERN, (whole, name: string, fallback: string | undefined) => {
    if (!isPlaceholderName(name)) return whole;
    const value = values[name];
    if (typeof value === 'string' && value.trim() !== '') return value;
    return fallback?.trim() ?? '';
  });
}
