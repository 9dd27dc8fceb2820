// Small rules of the data-subject pages, kept apart from the views so they read (and test) plainly.

/** What an admin types to confirm an erasure: the first 8 characters of the contact's id. */
export function erasureCode(contactId: string): string {
  return contactId.slice(0, 8).toLowerCase();
}

export function matchesErasureCode(input: string, contactId: string): boolean {
  return input.trim().replace(/^#/, '').toLowerCase() === erasureCode(contactId);
}

/** 1536 → "1.5 KB" (decimal units, as browsers show downloads). */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  if (bytes < 1_000_000) return `${(bytes / 1000).toFixed(1)} KB`;
  return `${(bytes / 1_000_000).toFixed(1)} MB`;
}

/** Percent for a progress bar; null while the size is unknown. */
export function percentOf(received: number, total: number | null): number | null {
  if (!total) return null;
  return Math.min(100, Math.round((received / total) * 100));
}

/** Hands a downloaded file to the browser's own download (the archive never leaves memory otherwise). */
export function saveFile(blob: Blob, fileName: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = fileName;
  a.rel = 'noopener';
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
