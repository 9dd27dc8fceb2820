// The matcher's view of the knowledge base. The knowledge module (storage, CRUD, versions,
// import/export) keeps its own records and hands the matcher one `MatchEntry` per FAQ entry:
//
//   id          the entry's stable key inside Parley (what `match` returns); any string
//   externalId  the customer's own key (the `id` column of a JSON Lines import), shown by `kb eval`
//   question    the standard question
//   similar     similar questions (相似问法): the main lever for accuracy; may be empty
//   answer      the answer as plain text (markup stripped); indexed with a low weight
//   category    category path, for display only
//   enabled     false: kept in the index but never returned
//   scope       website/channel ids the entry applies to; absent or empty: everywhere
//   validFrom / validUntil   the entry is returned only when now is within [from, until)
//
// Every text is normalised by the matcher (full-width, traditional, case, punctuation, emoticon
// codes), so the caller passes what the knowledge admin typed.

export interface MatchEntry {
  id: string;
  externalId?: string;
  question: string;
  similar: string[];
  answer: string;
  category?: string;
  enabled: boolean;
  scope?: string[];
  validFrom?: Date;
  validUntil?: Date;
}

/** A synonym group: words that mean the same thing here (快递 = 物流 = 包裹). */
export type SynonymGroup = readonly string[];

/** The two confidence thresholds of a website, in 0..1, `answer` ≥ `suggest`. */
export interface Thresholds {
  /** At or above: answer directly with the top entry. */
  answer: number;
  /** At or above (and below `answer`): offer the top 3 ("您是不是想问"). Below: hand off. */
  suggest: number;
}

export type Band = 'answer' | 'suggest' | 'handoff';

export interface MatchResult {
  id: string;
  /** Raw ranking score (not comparable across queries). */
  score: number;
  /** Calibrated confidence in 0..1 that this entry answers the query. */
  confidence: number;
  /** With `explain`: what the confidence was computed from. */
  features?: { ratio: number; support: number; margin: number; info: number };
}

export interface MatchOutcome {
  /** Best first; at most `limit` (default 3). Empty when nothing in scope shares a token. */
  results: MatchResult[];
  /** What the bot should do at the thresholds given (or the defaults). */
  band: Band;
}

export interface MatchOptions {
  /** Website/channel id: entries scoped elsewhere are left out. Absent: every entry. */
  scope?: string;
  thresholds?: Thresholds;
  limit?: number;
  /** Return the confidence features of each result (diagnostics, calibration). */
  explain?: boolean;
  /** For validFrom/validUntil; default: the current time. */
  now?: Date;
}

export interface MatcherInput {
  entries?: readonly MatchEntry[];
  synonyms?: readonly SynonymGroup[];
  /** Include the built-in everyday synonym groups (lexicon.ts). Default true. */
  builtinSynonyms?: boolean;
  /** Domain words (product names, terms) the segmenter must keep whole. */
  dictionary?: readonly string[];
}

export interface Matcher {
  match(query: string, options?: MatchOptions): MatchOutcome;
  /** Add or replace one entry (by id). Applies to the next match. */
  upsert(entry: MatchEntry): void;
  remove(id: string): void;
  /** Replace every synonym group. Synonyms expand the query; their members also become
   * dictionary words, so the entries containing a new member are re-segmented. */
  setSynonyms(groups: readonly SynonymGroup[]): void;
  /** Replace the domain dictionary. Re-segments the entries that contain a changed word. */
  setDictionary(words: readonly string[]): void;
  /** Number of entries indexed (enabled or not). */
  readonly size: number;
  get(id: string): MatchEntry | undefined;
}
