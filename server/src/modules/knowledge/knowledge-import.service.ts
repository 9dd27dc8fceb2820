// Importing and exporting the knowledge base (console and `parley kb import|export`).
//
// An import is all-or-nothing: every row is checked first (the same rules as the editor, plus
// duplicates within the file); if any row is refused, nothing is saved and the report lists every
// refused row with its field. Otherwise all rows are written in one transaction. A dry run stops
// after the checks and reports what would be created and updated.
// A row matches an existing entry by its external key (`id`) when it has one, else by its
// standard question; matched entries are updated (question, similar questions, answer, category;
// other fields kept), the others created. Each written entry gets a version ("import") and the
// import one audit record. Progress is kept in kb_imports, so the console can poll any replica.
import type { Logger } from 'pino';
import type { AuditTrail } from '../../platform/audit.ts';
import type { Database, Executor } from '../../platform/db/database.ts';
import { BadRequestError, NotFoundError } from '../../platform/errors.ts';
import { authorize, type Actor } from '../identity/permissions.ts';
import {
  formatOf,
  parseFile,
  writeFile,
  type FileFormat,
  type FileRow,
  type RowProblem,
} from './knowledge-files.ts';
import type { EntryValues, KnowledgeRepository } from './knowledge.repository.ts';
import { categoryPath, RuleError } from './knowledge.rules.ts';
import {
  actorFrom,
  categoryPaths,
  toEntryView,
  type KnowledgeActor,
  type KnowledgeService,
} from './knowledge.service.ts';

export const MAX_IMPORT_BYTES = 20 * 1024 * 1024;
/** A "running" import older than this was interrupted (imports take seconds, not an hour). */
const STALE_AFTER_MS = 60 * 60 * 1000;
/** Rows between two progress writes. */
const PROGRESS_EVERY = 200;
/** At most this many problems are kept in a report (the count says how many there were). */
const MAX_REPORTED = 1000;

export interface ImportReport {
  id: string | null;
  format: FileFormat;
  fileName: string;
  dryRun: boolean;
  status: 'running' | 'done' | 'failed';
  encoding: string | null;
  total: number;
  processed: number;
  created: number;
  updated: number;
  /** Nothing was saved when this is non-empty (all-or-nothing). */
  errors: RowProblem[];
  errorCount: number;
  saved: boolean;
  createdAt: string;
  finishedAt: string | null;
}

interface Checked {
  row: number;
  existingId: string | null;
  values: EntryValues;
  categoryPath: string[];
  hasCategory: boolean;
}

export function createKnowledgeImportService(deps: {
  db: Database;
  repo: KnowledgeRepository;
  auditTrail: AuditTrail;
  knowledge: KnowledgeService;
  logger: Logger;
}) {
  const { db, repo, auditTrail, knowledge } = deps;

  /** Checks every row against the rules, the file itself and the entries there are. */
  async function check(format: FileFormat, rows: FileRow[], problems: RowProblem[]): Promise<Checked[]> {
    const existing = await repo.keyIndex(db);
    const byKey = new Map(existing.map((e) => [e.question_key, e.id]));
    const byExternal = new Map(existing.filter((e) => e.external_id).map((e) => [e.external_id!, e.id]));
    const seenKey = new Map<string, number>();
    const seenExternal = new Map<string, number>();
    const out: Checked[] = [];
    for (const r of rows) {
      try {
        if (r.answer === null && format !== 'jsonl') throw new RuleError('answer', 'must not be empty');
        const values = knowledge.cleanEntry(
          {
            question: r.question,
            similar: r.similar,
            answer: r.answer ?? '',
            externalId: r.externalId,
          },
          format === 'jsonl',
        );
        const path = r.category ? categoryPath(r.category) : [];
        const firstKey = seenKey.get(values.questionKey);
        if (firstKey !== undefined) {
          throw new RuleError('question', `the same standard question as row ${firstKey}`);
        }
        seenKey.set(values.questionKey, r.row);
        if (values.externalId !== null) {
          const firstExternal = seenExternal.get(values.externalId);
          if (firstExternal !== undefined) throw new RuleError('id', `the same id as row ${firstExternal}`);
          seenExternal.set(values.externalId, r.row);
        }
        const byId = values.externalId !== null ? byExternal.get(values.externalId) : undefined;
        const byQuestion = byKey.get(values.questionKey);
        if (byId && byQuestion && byId !== byQuestion) {
          throw new RuleError('question', 'another entry (with another id) has this standard question');
        }
        const existingId = byId ?? byQuestion ?? null;
        if (existingId && byQuestion === existingId && values.externalId !== null && !byId) {
          const other = existing.find((e) => e.id === existingId)?.external_id;
          if (other && other !== values.externalId) {
            throw new RuleError('id', `the entry with this standard question has the id "${other}"`);
          }
        }
        out.push({ row: r.row, existingId, values, categoryPath: path, hasCategory: r.category !== null });
      } catch (e) {
        if (e instanceof RuleError) problems.push({ row: r.row, field: e.ruleField, message: e.message });
        else throw e;
      }
    }
    return out;
  }

  /** Finds or creates the category of each path; returns path → id. */
  async function categoriesFor(trx: Executor, paths: string[][]) {
    const ids = new Map<string, string>();
    for (const path of paths) {
      let parent: string | null = null;
      for (let depth = 0; depth < path.length; depth++) {
        const key = path.slice(0, depth + 1).join('/');
        const known = ids.get(key);
        if (known) {
          parent = known;
          continue;
        }
        const name = path[depth]!;
        const found: { id: string } | undefined =
          (await repo.siblingNamed(trx, parent, name)) ??
          (await repo.insertCategory(trx, { parentId: parent, name, position: 0 }));
        if (!found) throw new Error(`category ${key} could not be created`);
        ids.set(key, found.id);
        parent = found.id;
      }
    }
    return ids;
  }

  async function progress(id: string | null, patch: Parameters<KnowledgeRepository['updateImport']>[2]) {
    if (id) await repo.updateImport(db, id, patch);
  }

  /** Runs an import (or dry run) to the end; `jobId` is the kb_imports row to report progress in. */
  async function run(
    actor: KnowledgeActor,
    input: { format: FileFormat; fileName: string; bytes: Uint8Array; dryRun: boolean },
    jobId: string | null,
    onProgress?: (processed: number, total: number) => void,
  ) {
    const parsed = await parseFile(input.format, input.bytes);
    const problems = [...parsed.problems];
    const total = parsed.rows.length;
    await progress(jobId, { total });
    const checked = problems.some((p) => p.row <= 1) ? [] : await check(input.format, parsed.rows, problems);
    const result = { encoding: parsed.encoding, total, created: 0, updated: 0, problems, saved: false };
    if (problems.length > 0) return result;
    if (input.dryRun) {
      // What would change: rows matching an entry that already says the same are not counted.
      result.created = checked.filter((c) => !c.existingId).length;
      const matched = checked.filter((c) => c.existingId);
      const [current, cats] = await Promise.all([
        repo.entriesByIds(
          db,
          matched.map((c) => c.existingId!),
        ),
        repo.categories(db),
      ]);
      const byId = new Map(current.map((r) => [r.id, r]));
      const paths = categoryPaths(cats);
      result.updated = matched.filter((c) => {
        const before = byId.get(c.existingId!);
        if (!before) return true;
        const beforePath = before.category_id ? (paths.get(before.category_id) ?? '') : '';
        return !(
          before.question === c.values.question &&
          before.answer === c.values.answer &&
          (c.values.externalId === null || before.external_id === c.values.externalId) &&
          (!c.hasCategory || beforePath === c.categoryPath.join('/')) &&
          JSON.stringify(before.similar_questions) === JSON.stringify(c.values.similar)
        );
      }).length;
      await progress(jobId, { processed: total });
      onProgress?.(total, total);
      return result;
    }
    const changedIds: string[] = [];
    await knowledge.inTransaction(async (trx) => {
      const paths = await categoriesFor(
        trx,
        checked.filter((c) => c.categoryPath.length > 0).map((c) => c.categoryPath),
      );
      let done = 0;
      // In chunks: one read of the matched entries, one insert of the new ones and one insert of
      // the versions per chunk (a statement stays far below PostgreSQL's 65,535 parameters).
      for (let at = 0; at < checked.length; at += PROGRESS_EVERY) {
        const chunk = checked.slice(at, at + PROGRESS_EVERY);
        const versions: Parameters<KnowledgeService['version']>[2] = [];
        const matched = chunk.filter((c) => c.existingId).map((c) => c.existingId!);
        const befores = new Map((await repo.entriesByIdsForUpdate(trx, matched)).map((r) => [r.id, r]));
        const fresh: EntryValues[] = [];
        for (const c of chunk) {
          const categoryId = c.categoryPath.length > 0 ? paths.get(c.categoryPath.join('/'))! : null;
          if (!c.existingId) {
            fresh.push({ ...c.values, categoryId });
            continue;
          }
          const before = befores.get(c.existingId);
          if (!before) throw new Error('entry vanished during the import');
          const next: EntryValues = {
            ...c.values,
            attachments: before.attachments as unknown as EntryValues['attachments'],
            quickReplies: before.quick_replies,
            tags: before.tags,
            channelIds: before.channel_ids,
            validFrom: before.valid_from,
            validUntil: before.valid_until,
            enabled: before.enabled,
            externalId: c.values.externalId ?? before.external_id,
            categoryId: c.hasCategory ? categoryId : before.category_id,
          };
          const same =
            before.question === next.question &&
            before.answer === next.answer &&
            before.category_id === next.categoryId &&
            before.external_id === next.externalId &&
            JSON.stringify(before.similar_questions) === JSON.stringify(next.similar);
          if (!same) {
            const view = toEntryView(await repo.updateEntry(trx, c.existingId, next, actor.id));
            versions.push({ view, action: 'import' });
            changedIds.push(view.id);
            result.updated++;
          }
        }
        for (const row of await repo.insertEntries(trx, fresh, actor.id)) {
          const view = toEntryView(row);
          versions.push({ view, action: 'import' });
          changedIds.push(view.id);
          result.created++;
        }
        await knowledge.version(trx, actor, versions);
        done += chunk.length;
        // Outside the transaction, so other replicas see how far it is.
        await progress(jobId, { processed: done });
        onProgress?.(done, total);
      }
      await auditTrail.record(
        trx,
        { id: actor.id, name: actor.name, ip: actor.ip, userAgent: actor.userAgent },
        {
          action: 'knowledge.import',
          targetType: 'kb_import',
          targetId: jobId,
          details: {
            format: input.format,
            fileName: input.fileName,
            rows: total,
            created: result.created,
            updated: result.updated,
          },
        },
      );
    });
    result.saved = true;
    knowledge.entriesChanged(changedIds);
    return result;
  }

  function toReport(row: NonNullable<Awaited<ReturnType<KnowledgeRepository['findImport']>>>): ImportReport {
    const stored = row.errors as unknown as { list: RowProblem[]; count: number } | RowProblem[];
    let list = Array.isArray(stored) ? stored : stored.list;
    let count = Array.isArray(stored) ? stored.length : stored.count;
    // The replica doing it stopped (restart, crash): its transaction rolled back, nothing saved.
    if (row.status === 'running' && Date.now() - row.created_at.getTime() > STALE_AFTER_MS) {
      row = { ...row, status: 'failed' };
      list = [{ row: 0, field: 'file', message: 'the import was interrupted; nothing was saved' }];
      count = 1;
    }
    return {
      id: row.id,
      format: row.format as FileFormat,
      fileName: row.file_name,
      dryRun: row.dry_run,
      status: row.status as ImportReport['status'],
      encoding: row.encoding,
      total: row.total,
      processed: row.processed,
      created: row.created,
      updated: row.updated,
      errors: list,
      errorCount: count,
      saved: row.status === 'done' && !row.dry_run && count === 0,
      createdAt: row.created_at.toISOString(),
      finishedAt: row.finished_at?.toISOString() ?? null,
    };
  }

  function resolveFormat(format: string | undefined, fileName: string): FileFormat {
    const f = format ?? formatOf(fileName);
    if (f !== 'xlsx' && f !== 'csv' && f !== 'jsonl') {
      throw new BadRequestError('format: xlsx, csv or jsonl (or a file name ending so)', 'format');
    }
    return f;
  }

  return {
    resolveFormat,

    /** Console: starts the import in the background and answers at once with its report row. */
    async start(
      actor: Actor,
      input: { format?: string | undefined; fileName: string; bytes: Uint8Array; dryRun: boolean },
    ): Promise<ImportReport> {
      authorize(actor, 'knowledge.manage');
      const format = resolveFormat(input.format, input.fileName);
      if (input.bytes.length === 0) throw new BadRequestError('file: is empty', 'file');
      const k = actorFrom(actor);
      const { id } = await repo.insertImport(db, {
        format,
        fileName: input.fileName,
        dryRun: input.dryRun,
        encoding: null,
        by: actor.userId,
      });
      void run(k, { ...input, format }, id).then(
        async (r) => {
          await repo.updateImport(db, id, {
            status: 'done',
            processed: r.problems.length > 0 ? 0 : r.total,
            created: r.created,
            updated: r.updated,
            errors: JSON.stringify({ list: r.problems.slice(0, MAX_REPORTED), count: r.problems.length }),
            encoding: r.encoding,
            finished_at: new Date(),
          });
        },
        async (err: unknown) => {
          deps.logger.error({ err, importId: id }, 'knowledge import failed');
          await repo
            .updateImport(db, id, {
              status: 'failed',
              errors: JSON.stringify({
                list: [
                  {
                    row: 0,
                    field: 'file',
                    message: 'the import failed; nothing was saved (see the server log)',
                  },
                ],
                count: 1,
              }),
              finished_at: new Date(),
            })
            .catch(() => undefined);
        },
      );
      return toReport((await repo.findImport(db, id))!);
    },

    async report(actor: Actor, id: string): Promise<ImportReport> {
      authorize(actor, 'knowledge.manage');
      const row = await repo.findImport(db, id);
      if (!row) throw new NotFoundError('import');
      return toReport(row);
    },

    /** CLI: runs to the end in the foreground. */
    async runNow(
      actor: KnowledgeActor,
      input: { format: FileFormat; fileName: string; bytes: Uint8Array; dryRun: boolean },
      onProgress?: (processed: number, total: number) => void,
    ) {
      return run(actor, input, null, onProgress);
    },

    /** The whole knowledge base as a file; the export is audited (it is the company's FAQ). */
    async export(actor: Actor | KnowledgeActor, format: FileFormat): Promise<Buffer> {
      const rows = await knowledge.exportRows(actor);
      const k = 'role' in actor ? actorFrom(actor) : actor;
      await db.transaction().execute((trx) =>
        auditTrail.record(
          trx,
          { id: k.id, name: k.name, ip: k.ip, userAgent: k.userAgent },
          {
            action: 'knowledge.export',
            targetType: 'kb_entry',
            details: { format, entries: rows.length },
          },
        ),
      );
      return writeFile(format, rows);
    },
  };
}

export type KnowledgeImportService = ReturnType<typeof createKnowledgeImportService>;
