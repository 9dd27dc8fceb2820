// A small fuzzy matcher for canned replies: every character of the query must appear in order.
// Scores favour matches in the shortcut, at the start, and in one run, so "/tks" finds "thanks".

/** Score of a subsequence match of `query` in `text` (higher is better), or null for no match. */
export function fuzzyScore(query: string, text: string): number | null {
  const q = query.trim().toLowerCase();
  if (q === '') return 0;
  const s = text.toLowerCase();
  const direct = s.indexOf(q);
  if (direct >= 0) return 1000 - direct;
  let score = 0;
  let from = 0;
  let previous = -2;
  for (const ch of q) {
    const at = s.indexOf(ch, from);
    if (at < 0) return null;
    score += at === previous + 1 ? 5 : 1;
    previous = at;
    from = at + 1;
  }
  return score;
}

/** Items matching the query, best first; `fields` gives the searchable texts, most important first. */
export function fuzzyFilter<T>(items: readonly T[], query: string, fields: (item: T) => string[]): T[] {
  if (query.trim() === '') return [...items];
  const scored: { item: T; score: number }[] = [];
  for (const item of items) {
    let best: number | null = null;
    fields(item).forEach((text, i) => {
      const s = fuzzyScore(query, text);
      if (s !== null) best = Math.max(best ?? -Infinity, s * (i === 0 ? 3 : 1));
    });
    if (best !== null) scored.push({ item, score: best });
  }
  return scored.sort((a, b) => b.score - a.score).map((x) => x.item);
}
