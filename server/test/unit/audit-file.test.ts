import { describe, expect, it } from 'vitest';
import { GENESIS_HASH, hashAuditRecord, type AuditRecordBody } from '../../src/platform/audit.ts';
import {
  csvHeader,
  csvRecord,
  csvTrailer,
  jsonlHeader,
  jsonlRecord,
  parseExport,
  recordsDigest,
  seqRuns,
  type ExportManifest,
  type ExportedRecord,
} from '../../src/modules/audit/audit-file.ts';
import { verifyExport } from '../../src/modules/audit/audit-verify.ts';
import { escapeFilterValue, mapGroups, normaliseDn } from '../../src/modules/identity/directory.ts';

function chain(bodies: Partial<AuditRecordBody>[]): ExportedRecord[] {
  let prev: Buffer = GENESIS_HASH;
  return bodies.map((b, i) => {
    const body: AuditRecordBody = {
      seq: i + 1,
      occurredAt: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
      actorId: null,
      actorName: null,
      actorIp: null,
      actorUserAgent: null,
      action: 'x.y',
      targetType: null,
      targetId: null,
      outcome: 'success',
      details: {},
      hashAlg: 'sha256',
      ...b,
    };
    const hash = hashAuditRecord(prev, body);
    const rec = { ...body, prevHash: prev.toString('hex'), hash: hash.toString('hex') };
    prev = hash;
    return rec;
  });
}

function manifestFor(records: ExportedRecord[]): ExportManifest {
  return {
    format: 'parley-audit-export',
    version: 1,
    exportedAt: '2026-01-02T00:00:00.000Z',
    exportedBy: 'test',
    filter: {},
    contiguous: true,
    range: { firstSeq: records[0]!.seq, lastSeq: records.at(-1)!.seq, count: records.length },
    seqs: seqRuns(records.map((r) => r.seq)),
    recordsDigest: recordsDigest(records),
    head: null,
    anchor: null,
    checkpoints: [],
    publicKey: null,
    signature: null,
  };
}

const tricky = chain([
  { actorName: '=HYPERLINK("http://evil")', actorUserAgent: '', details: { note: '张三, "引号"\nnew line' } },
  { actorName: "'=already quoted", targetId: '-5', actorIp: null, details: { n: 1.5, list: [1, 'a'] } },
  { actorName: '  spaced  ', action: 'team.create', details: { name: '售后,组' } },
]);

describe('audit export files', () => {
  it('CSV round-trips every value exactly: formulas neutralised, null vs empty, commas, quotes, newlines, Chinese', () => {
    const text = csvHeader() + tricky.map(csvRecord).join('') + csvTrailer(manifestFor(tricky));
    expect(text).toContain(`"'=HYPERLINK(""http://evil"")"`);
    const parsed = parseExport(text, 'a.csv');
    expect(parsed.unreadable).toEqual([]);
    expect(parsed.records).toEqual(tricky);
    expect(verifyExport(parsed, null).ok).toBe(true);
  });

  it('JSONL round-trips and verifies; reordered lines are named', () => {
    const text = jsonlHeader(manifestFor(tricky)) + tricky.map(jsonlRecord).join('');
    expect(verifyExport(parseExport(text, 'a.jsonl'), null).ok).toBe(true);
    const lines = text.split('\n');
    const swapped = [lines[0], lines[2], lines[1], lines[3], ''].join('\n');
    const report = verifyExport(parseExport(swapped, 'a.jsonl'), null);
    expect(report.ok).toBe(false);
    expect(report.problems[0]).toMatchObject({ kind: 'reordered', seq: 1 });
  });

  it('a removed line is named from the manifest even in a filtered export', () => {
    const m = { ...manifestFor(tricky), contiguous: false };
    const text = jsonlHeader(m) + [tricky[0]!, tricky[2]!].map(jsonlRecord).join('');
    const report = verifyExport(parseExport(text, 'a.jsonl'), null);
    expect(report.problems.map((p) => [p.kind, p.seq])).toContainEqual(['deleted', 2]);
  });
});

describe('directory helpers', () => {
  it('escapes filter values (RFC 4515)', () => {
    expect(escapeFilterValue('a*b(c)d\\e\0')).toBe('a\\2ab\\28c\\29d\\5ce\\00');
  });
  it('compares DNs without case or spacing differences and picks the most privileged role', () => {
    expect(normaliseDn('CN=Admins, OU=Groups ,DC=Example')).toBe('cn=admins,ou=groups,dc=example');
    const groups = ['cn=agents,dc=x', 'cn=admins,dc=x', 'cn=billing,dc=x'].map(normaliseDn);
    expect(
      mapGroups(
        groups,
        { 'CN=Agents,DC=X': 'agent', 'cn=admins, dc=x': 'admin' },
        { 'cn=billing,dc=x': 'Billing' },
      ),
    ).toEqual({ role: 'admin', teams: ['Billing'] });
    expect(mapGroups(['cn=other,dc=x'], { 'cn=agents,dc=x': 'agent' }, {})).toEqual({
      role: null,
      teams: [],
    });
  });
});
