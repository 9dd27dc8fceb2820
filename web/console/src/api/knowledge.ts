// The knowledge base's part of the console API (server/src/modules/knowledge/knowledge.routes.ts).
import { api, ApiError, errorFromResponse } from './client.ts';

export interface KbAttachment {
  kind: 'link' | 'image';
  url: string;
  title: string;
}

export interface KbEntry {
  id: string;
  externalId: string | null;
  question: string;
  similar: string[];
  answer: string;
  attachments: KbAttachment[];
  quickReplies: string[];
  categoryId: string | null;
  tags: string[];
  channelIds: string[] | null;
  validFrom: string | null;
  validUntil: string | null;
  enabled: boolean;
  version: number;
  createdAt: string;
  updatedAt: string;
}

export type KbEntryInput = Omit<KbEntry, 'id' | 'version' | 'createdAt' | 'updatedAt'>;

export interface KbCategory {
  id: string;
  parentId: string | null;
  name: string;
  position: number;
  entryCount: number;
}

export interface KbVersion {
  version: number;
  action: 'create' | 'update' | 'enable' | 'disable' | 'delete' | 'import';
  snapshot: Partial<KbEntryInput>;
  actorId: string | null;
  actorName: string | null;
  at: string;
}

export interface KbSynonymGroup {
  id: string;
  words: string[];
  updatedAt: string;
}

export interface KbWord {
  id: string;
  word: string;
  kind: 'product' | 'term';
  createdAt: string;
}

export type KbFormat = 'xlsx' | 'csv' | 'jsonl';

export interface KbImportReport {
  id: string;
  format: KbFormat;
  fileName: string;
  dryRun: boolean;
  status: 'running' | 'done' | 'failed';
  encoding: string | null;
  total: number;
  processed: number;
  created: number;
  updated: number;
  errors: { row: number; field: string; message: string }[];
  errorCount: number;
  saved: boolean;
  createdAt: string;
  finishedAt: string | null;
}

export interface KbEntryQuery {
  q?: string;
  categoryId?: string;
  uncategorised?: boolean;
  enabled?: boolean;
  limit?: number;
  offset?: number;
}

const base = '/api/v1/knowledge';
const id = (value: string) => encodeURIComponent(value);
function query(params: Record<string, string | number | boolean | undefined>) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const text = q.toString();
  return text ? `?${text}` : '';
}

export const knowledgeApi = {
  entries: (q: KbEntryQuery) =>
    api.request<{ entries: KbEntry[]; total: number; canManage: boolean }>(
      'GET',
      `${base}/entries${query({ ...q })}`,
    ),
  create: (input: Partial<KbEntryInput>) => api.request<KbEntry>('POST', `${base}/entries`, input),
  update: (entryId: string, patch: Partial<KbEntryInput> & { expectedVersion?: number }) =>
    api.request<KbEntry>('PATCH', `${base}/entries/${id(entryId)}`, patch),
  remove: (entryId: string) => api.request<void>('DELETE', `${base}/entries/${id(entryId)}`),
  setEnabled: (ids: string[], enabled: boolean) =>
    api.request<{ changed: string[] }>('POST', `${base}/entries/enabled`, { ids, enabled }),
  versions: async (entryId: string) =>
    (await api.request<{ versions: KbVersion[] }>('GET', `${base}/entries/${id(entryId)}/versions`)).versions,

  categories: async () =>
    (await api.request<{ categories: KbCategory[] }>('GET', `${base}/categories`)).categories,
  createCategory: (input: { name: string; parentId: string | null }) =>
    api.request<KbCategory>('POST', `${base}/categories`, input),
  updateCategory: (categoryId: string, patch: { name?: string; parentId?: string | null }) =>
    api.request<KbCategory>('PATCH', `${base}/categories/${id(categoryId)}`, patch),
  removeCategory: (categoryId: string) => api.request<void>('DELETE', `${base}/categories/${id(categoryId)}`),

  synonyms: async () => (await api.request<{ groups: KbSynonymGroup[] }>('GET', `${base}/synonyms`)).groups,
  createSynonyms: (words: string[]) => api.request<KbSynonymGroup>('POST', `${base}/synonyms`, { words }),
  updateSynonyms: (groupId: string, words: string[]) =>
    api.request<KbSynonymGroup>('PUT', `${base}/synonyms/${id(groupId)}`, { words }),
  removeSynonyms: (groupId: string) => api.request<void>('DELETE', `${base}/synonyms/${id(groupId)}`),

  dictionary: async () => (await api.request<{ words: KbWord[] }>('GET', `${base}/dictionary`)).words,
  addWord: (word: string, kind: KbWord['kind']) =>
    api.request<KbWord>('POST', `${base}/dictionary`, { word, kind }),
  removeWord: (wordId: string) => api.request<void>('DELETE', `${base}/dictionary/${id(wordId)}`),

  /** Sends the file as it is; the server answers at once and works in the background. */
  async startImport(file: File, dryRun: boolean): Promise<KbImportReport> {
    let res: Response;
    try {
      res = await fetch(`${base}/imports${query({ fileName: file.name, dryRun })}`, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { accept: 'application/json', 'content-type': 'application/octet-stream' },
        body: file,
      });
    } catch (cause) {
      throw new ApiError(0, 'network', cause instanceof Error ? cause.message : 'network error');
    }
    if (!res.ok) throw await errorFromResponse(res);
    return (await res.json()) as KbImportReport;
  },
  importReport: (importId: string) => api.request<KbImportReport>('GET', `${base}/imports/${id(importId)}`),
  /** A download link (the browser fetches it with the session cookie). */
  exportUrl: (format: KbFormat) => `${base}/export${query({ format })}`,
};
