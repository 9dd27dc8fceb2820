// `parley kb import FILE` and `parley kb export`: the knowledge base to and from XLSX, CSV and
// JSON Lines (formats: docs/KNOWLEDGE.md). Imports are all-or-nothing, like the console's.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config/config.ts';
import { createContainer } from '../container.ts';
import { createLogger } from '../platform/logger.ts';
import type { FileFormat } from '../modules/knowledge/knowledge-files.ts';
import type { KnowledgeActor } from '../modules/knowledge/knowledge.service.ts';
import { withDatabase } from './database.ts';

const CLI: KnowledgeActor = { id: null, name: 'cli', ip: null, userAgent: null };

export async function kbImport(
  config: Readonly<Config>,
  file: string,
  opts: { format?: string | undefined; dryRun: boolean; json: boolean },
): Promise<number> {
  const bytes = await readFile(file);
  return withDatabase(config, async (handle) => {
    const container = createContainer({ config, db: handle.db, logger: createLogger('warn') });
    const format = container.knowledgeImport.resolveFormat(opts.format, path.basename(file));
    let shown = -1;
    const result = await container.knowledgeImport.runNow(
      CLI,
      { format, fileName: path.basename(file), bytes, dryRun: opts.dryRun },
      (done, total) => {
        const pct = total === 0 ? 100 : Math.floor((done / total) * 100);
        if (!opts.json && process.stderr.isTTY && pct !== shown) {
          shown = pct;
          process.stderr.write(`\rimporting: ${done}/${total} rows (${pct} %)`);
        }
      },
    );
    if (!opts.json && process.stderr.isTTY && shown >= 0) process.stderr.write('\n');
    if (opts.json) {
      console.log(JSON.stringify({ ...result, dryRun: opts.dryRun, format }));
    } else {
      const enc = result.encoding ? ` (${result.encoding})` : '';
      console.log(`${file}${enc}: ${result.total} rows`);
      for (const p of result.problems.slice(0, 50)) {
        console.log(`  ${p.row === 0 ? 'file' : `row ${p.row}`}: ${p.message}`);
      }
      if (result.problems.length > 50) console.log(`  … and ${result.problems.length - 50} more`);
      if (result.problems.length > 0)
        console.log(`refused: ${result.problems.length} problems; nothing was saved`);
      else if (opts.dryRun)
        console.log(`dry run: would create ${result.created}, update ${result.updated}; nothing saved`);
      else console.log(`imported: ${result.created} created, ${result.updated} updated`);
    }
    return result.problems.length > 0 ? 1 : 0;
  });
}

export async function kbExport(
  config: Readonly<Config>,
  opts: { format: FileFormat; out: string | undefined },
): Promise<number> {
  return withDatabase(config, async (handle) => {
    const container = createContainer({ config, db: handle.db, logger: createLogger('warn') });
    const file = await container.knowledgeImport.export(CLI, opts.format);
    if (opts.out) {
      await writeFile(opts.out, file);
      console.error(`exported the knowledge base to ${opts.out}`);
    } else {
      process.stdout.write(file);
    }
    return 0;
  });
}
