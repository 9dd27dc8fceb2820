// Small rules of the widget settings page: the origins box and where server errors belong.

/** The allowed origins as typed, one a line (commas and spaces also separate). */
export function originsFromText(text: string): string[] {
  return [
    ...new Set(
      text
        .split(/[\s,]+/)
        .map((o) => o.trim().replace(/\/+$/, ''))
        .filter(Boolean),
    ),
  ];
}

/** The form field a server validation error belongs to ("allowedOrigins.2" → "allowedOrigins"). */
export function formFieldOf(serverField: string | undefined): string | undefined {
  return serverField?.split('.')[0];
}
