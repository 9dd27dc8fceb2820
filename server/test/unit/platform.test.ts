import { describe, expect, it } from 'vitest';
import { GENESIS_HASH, hashAuditRecord, type AuditRecordBody } from '../../src/platform/audit.ts';
import { canonicalJson } from '../../src/platform/canonical-json.ts';
import { assertSupportedVersion } from '../../src/platform/db/database.ts';
import { describeDatabaseUrl } from '../../src/platform/logger.ts';

describe('PostgreSQL version', () => {
  it('accepts 13 and newer, refuses older with what to do', () => {
    expect(() => assertSupportedVersion(130000, '13.0')).not.toThrow();
    expect(() => assertSupportedVersion(150020, '15.20')).not.toThrow();
    expect(() => assertSupportedVersion(120017, '12.17')).toThrow(
      /PostgreSQL 12.17 is too old.*13 or newer.*Upgrade/,
    );
  });
});

describe('canonical JSON', () => {
  it('sorts keys at every level and is stable', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { z: 1, y: 2 }], c: null } })).toBe(
      '{"a":{"c":null,"d":[2,{"y":2,"z":1}]},"b":1}',
    );
    expect(canonicalJson({ 名: '张三', x: undefined })).toBe('{"名":"张三"}');
  });
});

describe('audit hash chain', () => {
  const body: AuditRecordBody = {
    seq: 1,
    occurredAt: '2026-11-21T05:00:00.000Z',
    actorId: null,
    actorName: 'system',
    actorIp: null,
    actorUserAgent: null,
    action: 'user.create',
    targetType: 'user',
    targetId: 'u1',
    outcome: 'success',
    details: { role: 'admin' },
    hashAlg: 'sha256',
  };
  it('changes when any field or the previous hash changes', () => {
    const h = hashAuditRecord(GENESIS_HASH, body);
    expect(h).toHaveLength(32);
    expect(hashAuditRecord(GENESIS_HASH, { ...body })).toEqual(h);
    expect(hashAuditRecord(GENESIS_HASH, { ...body, details: { role: 'agent' } })).not.toEqual(h);
    expect(hashAuditRecord(Buffer.alloc(32, 1), body)).not.toEqual(h);
  });
});

describe('logging', () => {
  it('never shows a database password', () => {
    expect(describeDatabaseUrl('postgres://parley:s3cret@db:5432/parley')).toBe(
      'postgres://parley:***@db:5432/parley',
    );
  });
});
