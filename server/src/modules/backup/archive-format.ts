// The Parley backup archive: one file, written and read as a stream (nothing is held in memory
// beyond one segment), optionally encrypted to an RSA public key.
//
//   file     = MAGIC "PARLEYBK" | u8 format version | u32 header length | header (JSON) | segment*
//   segment  = u8 flags (bit 0: final) | u32 length | payload
//              encrypted: payload = AES-256-GCM(ciphertext) || 16-byte tag, nonce = segment index,
//              AAD = SHA-256(magic..header) || u64 index || flags — so reordering, dropping the
//              final segment (truncation) or editing the header all fail authentication.
//   logical  = the concatenated segment payloads (decrypted) = record*
//   record   = u8 type | u32 length | payload
//              PART_BEGIN {name, kind} · PART_DATA bytes · PART_END {bytes, sha256}
//              MANIFEST (JSON, last, lists every part's SHA-256) · END (SHA-256 of magic..header
//              and every logical byte before END)
//
// The header is readable without the key (format, Parley version, migration level, created at,
// encryption parameters) so `list` and the "archive from a newer Parley" check need no key; it
// is authenticated by the GCM AAD (encrypted) or by the END hash (plain). The data key is random
// per archive and wrapped with RSA-OAEP-SHA256, so whoever holds only the public key (the server
// that writes backups) cannot read any archive, old or new.
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createPrivateKey,
  createPublicKey,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
  constants as cryptoConstants,
  type Hash,
  type KeyObject,
} from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { BackupError } from './backup.errors.ts';

export const MAGIC = Buffer.from('PARLEYBK', 'ascii');
export const FORMAT_VERSION = 1;
export const ARCHIVE_EXTENSION = '.parley-backup';
const SEGMENT_BYTES = 256 * 1024;
const MAX_RECORD_DATA = 1024 * 1024;
const MAX_HEADER_BYTES = 1024 * 1024;
const TAG_BYTES = 16;
const FLAG_FINAL = 1;
const ENCRYPTION_SCHEME = 'rsa-oaep-sha256+aes-256-gcm';

const RecordType = { PART_BEGIN: 1, PART_DATA: 2, PART_END: 3, MANIFEST: 4, END: 5 } as const;

export interface EncryptionHeader {
  scheme: typeof ENCRYPTION_SCHEME;
  /** SHA-256 of the public key (SPKI DER), hex, first 32 characters: which key opens it. */
  keyId: string;
  wrappedKey: string;
  segmentBytes: number;
}

export interface ArchiveHeader {
  format: 'parley-backup';
  formatVersion: number;
  product: 'parley';
  parleyVersion: string;
  migration: { version: number; name: string } | null;
  createdAt: string;
  encryption: EncryptionHeader | null;
}

export interface PartSummary {
  name: string;
  kind: string;
  bytes: number;
  sha256: string;
}

export function publicKeyId(key: KeyObject): string {
  const spki = (key.type === 'private' ? createPublicKey(key) : key).export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('hex').slice(0, 32);
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

function segmentAad(headerDigest: Buffer, index: number, flags: number): Buffer {
  const b = Buffer.alloc(headerDigest.length + 9);
  headerDigest.copy(b, 0);
  b.writeBigUInt64BE(BigInt(index), headerDigest.length);
  b.writeUInt8(flags, headerDigest.length + 8);
  return b;
}

function segmentNonce(index: number): Buffer {
  const nonce = Buffer.alloc(12);
  nonce.writeBigUInt64BE(BigInt(index), 4);
  return nonce;
}

/** Writes an archive to an open file handle, record by record. */
export class ArchiveWriter {
  readonly #out: FileHandle;
  readonly #dataKey: Buffer | undefined;
  readonly #headerDigest: Buffer;
  readonly #total: Hash;
  readonly #file = createHash('sha256');
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #segment = 0;
  #part: { name: string; kind: string; bytes: number; hash: Hash } | undefined;
  readonly parts: PartSummary[] = [];
  /** Bytes written to the file so far. */
  written = 0;

  private constructor(out: FileHandle, preamble: Buffer, dataKey: Buffer | undefined) {
    this.#out = out;
    this.#dataKey = dataKey;
    this.#headerDigest = createHash('sha256').update(preamble).digest();
    this.#total = createHash('sha256').update(preamble);
  }

  static async start(
    out: FileHandle,
    header: Omit<ArchiveHeader, 'encryption' | 'format' | 'formatVersion' | 'product'>,
    publicKey: KeyObject | undefined,
  ): Promise<ArchiveWriter> {
    let dataKey: Buffer | undefined;
    let encryption: EncryptionHeader | null = null;
    if (publicKey) {
      dataKey = randomBytes(32);
      const wrapped = publicEncrypt(
        { key: publicKey, padding: cryptoConstants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
        dataKey,
      );
      encryption = {
        scheme: ENCRYPTION_SCHEME,
        keyId: publicKeyId(publicKey),
        wrappedKey: wrapped.toString('base64'),
        segmentBytes: SEGMENT_BYTES,
      };
    }
    const full: ArchiveHeader = {
      format: 'parley-backup',
      formatVersion: FORMAT_VERSION,
      product: 'parley',
      ...header,
      encryption,
    };
    const json = Buffer.from(JSON.stringify(full), 'utf8');
    const preamble = Buffer.concat([MAGIC, Buffer.from([FORMAT_VERSION]), u32(json.length), json]);
    const writer = new ArchiveWriter(out, preamble, dataKey);
    await writer.#emit(preamble);
    return writer;
  }

  async #emit(buf: Buffer): Promise<void> {
    let offset = 0;
    while (offset < buf.length) {
      const { bytesWritten } = await this.#out.write(buf, offset, buf.length - offset);
      offset += bytesWritten;
    }
    this.#file.update(buf);
    this.written += buf.length;
  }

  /** SHA-256 of the whole file as written (call after finish). */
  fileSha256(): string {
    return this.#file.copy().digest('hex');
  }

  async #flushSegment(final: boolean): Promise<void> {
    const plain = Buffer.concat(this.#pending, this.#pendingBytes);
    this.#pending = [];
    this.#pendingBytes = 0;
    const flags = final ? FLAG_FINAL : 0;
    let payload = plain;
    if (this.#dataKey) {
      const cipher = createCipheriv('aes-256-gcm', this.#dataKey, segmentNonce(this.#segment));
      cipher.setAAD(segmentAad(this.#headerDigest, this.#segment, flags));
      payload = Buffer.concat([cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
    }
    this.#segment++;
    await this.#emit(Buffer.concat([Buffer.from([flags]), u32(payload.length), payload]));
  }

  async #logical(buf: Buffer): Promise<void> {
    this.#total.update(buf);
    let offset = 0;
    while (offset < buf.length) {
      const take = Math.min(SEGMENT_BYTES - this.#pendingBytes, buf.length - offset);
      this.#pending.push(buf.subarray(offset, offset + take));
      this.#pendingBytes += take;
      offset += take;
      if (this.#pendingBytes === SEGMENT_BYTES) await this.#flushSegment(false);
    }
  }

  async #record(type: number, payload: Buffer): Promise<void> {
    await this.#logical(Buffer.concat([Buffer.from([type]), u32(payload.length)]));
    await this.#logical(payload);
  }

  async beginPart(name: string, kind: string): Promise<void> {
    if (this.#part) throw new Error(`part ${this.#part.name} is still open`);
    this.#part = { name, kind, bytes: 0, hash: createHash('sha256') };
    await this.#record(RecordType.PART_BEGIN, Buffer.from(JSON.stringify({ name, kind })));
  }

  async writePartData(chunk: Buffer): Promise<void> {
    const part = this.#part;
    if (!part) throw new Error('no part is open');
    for (let offset = 0; offset < chunk.length; offset += MAX_RECORD_DATA) {
      const piece = chunk.subarray(offset, offset + MAX_RECORD_DATA);
      part.hash.update(piece);
      part.bytes += piece.length;
      await this.#record(RecordType.PART_DATA, piece);
    }
  }

  async endPart(): Promise<PartSummary> {
    const part = this.#part;
    if (!part) throw new Error('no part is open');
    this.#part = undefined;
    const summary = { name: part.name, kind: part.kind, bytes: part.bytes, sha256: part.hash.digest('hex') };
    await this.#record(
      RecordType.PART_END,
      Buffer.from(JSON.stringify({ bytes: summary.bytes, sha256: summary.sha256 })),
    );
    this.parts.push(summary);
    return summary;
  }

  /** Writes the manifest and the end record; the file is complete once this resolves. */
  async finish(manifest: Record<string, unknown>): Promise<void> {
    if (this.#part) throw new Error(`part ${this.#part.name} is still open`);
    await this.#record(RecordType.MANIFEST, Buffer.from(JSON.stringify(manifest), 'utf8'));
    const digest = this.#total.copy().digest();
    await this.#record(RecordType.END, digest);
    await this.#flushSegment(true);
  }
}

/** Reads exactly n bytes at a time from an async source of buffers. */
class ByteReader {
  readonly #source: AsyncIterator<Buffer>;
  #buffered: Buffer[] = [];
  #bufferedBytes = 0;
  #done = false;
  consumed = 0;

  constructor(source: AsyncIterable<Buffer>) {
    this.#source = source[Symbol.asyncIterator]();
  }

  /** n bytes, or fewer only at the end of the input (check the length). */
  async read(n: number): Promise<Buffer> {
    while (this.#bufferedBytes < n && !this.#done) {
      const next = await this.#source.next();
      if (next.done) this.#done = true;
      else {
        this.#buffered.push(next.value);
        this.#bufferedBytes += next.value.length;
      }
    }
    // Copy only what is asked for: slices of the buffered chunks, joined when it spans several.
    const take = Math.min(n, this.#bufferedBytes);
    const pieces: Buffer[] = [];
    let got = 0;
    while (got < take) {
      const head = this.#buffered[0]!;
      const want = take - got;
      if (head.length <= want) {
        pieces.push(head);
        this.#buffered.shift();
        got += head.length;
      } else {
        pieces.push(head.subarray(0, want));
        this.#buffered[0] = head.subarray(want);
        got += want;
      }
    }
    this.#bufferedBytes -= take;
    this.consumed += take;
    return pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces, take);
  }

  /** True when the input has no more bytes (does not consume anything). */
  async peekEnd(): Promise<boolean> {
    const b = await this.read(1);
    if (b.length === 0) return true;
    this.#buffered.unshift(Buffer.from(b));
    this.#bufferedBytes += 1;
    this.consumed -= 1;
    return false;
  }
}

export type ArchiveEvent =
  | { type: 'part-begin'; name: string; kind: string }
  | { type: 'data'; chunk: Buffer }
  | { type: 'part-end'; part: PartSummary };

export interface OpenedArchive {
  path: string;
  header: ArchiveHeader;
  /** Streams the archive's contents, checking every segment and hash; throws BackupError. */
  events(): AsyncGenerator<ArchiveEvent>;
  /** The manifest; available once events() has been read to the end. */
  manifest(): Record<string, unknown>;
}

function damaged(what: string): BackupError {
  return new BackupError(
    'corrupt',
    `the archive is damaged: ${what}. It cannot be trusted; use another backup (and check the storage it was on).`,
  );
}
function truncated(where: string): BackupError {
  return new BackupError(
    'truncated',
    `the archive is truncated (it ends ${where}): the copy is incomplete. Copy the whole file again or use another backup.`,
  );
}

async function readPreamble(path: string): Promise<{ header: ArchiveHeader; preamble: Buffer }> {
  const stream = createReadStream(path, { start: 0, end: MAX_HEADER_BYTES + 64 });
  const reader = new ByteReader(stream as AsyncIterable<Buffer>);
  try {
    const head = await reader.read(13);
    if (head.length < MAGIC.length || !head.subarray(0, MAGIC.length).equals(MAGIC)) {
      const hint =
        head.subarray(0, 5).toString('latin1') === 'PGDMP'
          ? ' It is a plain pg_dump archive: restore it with pg_restore, not with parley.'
          : '';
      throw new BackupError('not_a_backup', `${path} is not a Parley backup archive.${hint}`);
    }
    if (head.length < 13) throw truncated('inside its header');
    const version = head.readUInt8(8);
    if (version > FORMAT_VERSION) {
      throw new BackupError(
        'unsupported_format',
        `${path} uses archive format ${version}, written by a newer Parley; this Parley reads format ${FORMAT_VERSION}. Restore it with a newer Parley.`,
      );
    }
    const length = head.readUInt32BE(9);
    if (length > MAX_HEADER_BYTES) throw damaged('its header length is implausible');
    const json = await reader.read(length);
    if (json.length < length) throw truncated('inside its header');
    let header: ArchiveHeader;
    try {
      header = JSON.parse(json.toString('utf8')) as ArchiveHeader;
    } catch {
      throw damaged('its header is not valid JSON');
    }
    if (header.format !== 'parley-backup' || header.product !== 'parley')
      throw new BackupError('not_a_backup', `${path} is not a Parley backup archive.`);
    return { header, preamble: Buffer.concat([head, json]) };
  } finally {
    stream.destroy();
  }
}

/**
 * Opens an archive: reads and checks the header, and unwraps the data key when the archive is
 * encrypted (privateKey required then). Contents are checked as events() streams them.
 */
export async function openArchive(path: string, opts: { privateKey?: string } = {}): Promise<OpenedArchive> {
  const { header, preamble } = await readPreamble(path);
  const headerDigest = createHash('sha256').update(preamble).digest();
  let dataKey: Buffer | undefined;
  if (header.encryption) {
    const enc = header.encryption;
    if ((enc.scheme as string) !== ENCRYPTION_SCHEME)
      throw new BackupError('unsupported_format', `unknown encryption scheme "${String(enc.scheme)}"`);
    if (!opts.privateKey) {
      throw new BackupError(
        'key_required',
        `${path} is encrypted (to key ${enc.keyId}); set BACKUP_DECRYPT_PRIVATE_KEY (or --key FILE) to the matching private key.`,
      );
    }
    const key = createPrivateKey(opts.privateKey);
    const given = publicKeyId(key);
    if (given !== enc.keyId) {
      throw new BackupError(
        'wrong_key',
        `wrong key: ${path} was encrypted to key ${enc.keyId}, but the private key given is ${given}.`,
      );
    }
    try {
      dataKey = privateDecrypt(
        { key, padding: cryptoConstants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
        Buffer.from(enc.wrappedKey, 'base64'),
      );
    } catch {
      throw new BackupError('wrong_key', `wrong key: the private key cannot open ${path}'s data key.`);
    }
    if (dataKey.length !== 32) throw damaged('its data key has the wrong length');
  }
  const maxSegment = (header.encryption?.segmentBytes ?? SEGMENT_BYTES) + TAG_BYTES;
  let manifest: Record<string, unknown> | undefined;

  async function* segments(): AsyncGenerator<Buffer> {
    const stream = createReadStream(path, { start: preamble.length, highWaterMark: 1024 * 1024 });
    const file = new ByteReader(stream as AsyncIterable<Buffer>);
    try {
      yield* readSegments(file);
    } finally {
      stream.destroy();
    }
  }

  async function* readSegments(file: ByteReader): AsyncGenerator<Buffer> {
    for (let index = 0; ; index++) {
      const head = await file.read(5);
      if (head.length === 0) throw truncated('before its final segment');
      if (head.length < 5) throw truncated(`inside segment ${index}`);
      const flags = head.readUInt8(0);
      const length = head.readUInt32BE(1);
      if ((flags & ~FLAG_FINAL) !== 0 || length > maxSegment)
        throw damaged(`segment ${index} has a bad frame`);
      const payload = await file.read(length);
      if (payload.length < length) throw truncated(`inside segment ${index}`);
      let plain = payload;
      if (dataKey) {
        if (length < TAG_BYTES) throw damaged(`segment ${index} is too short`);
        const decipher = createDecipheriv('aes-256-gcm', dataKey, segmentNonce(index));
        decipher.setAAD(segmentAad(headerDigest, index, flags));
        decipher.setAuthTag(payload.subarray(length - TAG_BYTES));
        try {
          plain = Buffer.concat([decipher.update(payload.subarray(0, length - TAG_BYTES)), decipher.final()]);
        } catch {
          throw damaged(`segment ${index} failed authentication (a changed byte or the wrong data)`);
        }
      }
      yield plain;
      if (flags & FLAG_FINAL) {
        if (!(await file.peekEnd())) throw damaged('there are bytes after its final segment');
        return;
      }
    }
  }

  async function* events(): AsyncGenerator<ArchiveEvent> {
    const logical = new ByteReader(segments());
    const total = createHash('sha256').update(preamble);
    const parts: PartSummary[] = [];
    let open: { name: string; kind: string; bytes: number; hash: Hash } | undefined;
    for (;;) {
      const head = await logical.read(5);
      if (head.length < 5) throw truncated('before its end record');
      const type = head.readUInt8(0);
      const length = head.readUInt32BE(1);
      if (length > MAX_RECORD_DATA + 1024 * 1024) throw damaged('a record has an implausible length');
      const payload = await logical.read(length);
      if (payload.length < length) throw truncated('inside a record');
      if (type === RecordType.END) {
        if (!total.digest().equals(payload)) throw damaged('its overall SHA-256 does not match');
        if (!manifest) throw damaged('it has no manifest');
        if (!(await logical.peekEnd())) throw damaged('there is data after its end record');
        return;
      }
      total.update(head).update(payload);
      switch (type) {
        case RecordType.PART_BEGIN: {
          if (open) throw damaged('a part starts inside another');
          const meta = JSON.parse(payload.toString('utf8')) as { name: string; kind: string };
          open = { name: meta.name, kind: meta.kind, bytes: 0, hash: createHash('sha256') };
          yield { type: 'part-begin', name: meta.name, kind: meta.kind };
          break;
        }
        case RecordType.PART_DATA:
          if (!open) throw damaged('data outside a part');
          open.hash.update(payload);
          open.bytes += payload.length;
          yield { type: 'data', chunk: payload };
          break;
        case RecordType.PART_END: {
          if (!open) throw damaged('a part ends that never began');
          const claimed = JSON.parse(payload.toString('utf8')) as { bytes: number; sha256: string };
          const part = {
            name: open.name,
            kind: open.kind,
            bytes: open.bytes,
            sha256: open.hash.digest('hex'),
          };
          if (claimed.sha256 !== part.sha256 || claimed.bytes !== part.bytes)
            throw damaged(`the SHA-256 of part ${part.name} does not match`);
          open = undefined;
          parts.push(part);
          yield { type: 'part-end', part };
          break;
        }
        case RecordType.MANIFEST: {
          let m: Record<string, unknown>;
          try {
            m = JSON.parse(payload.toString('utf8')) as Record<string, unknown>;
          } catch {
            throw damaged('its manifest is not valid JSON');
          }
          const listed = (m.parts ?? []) as PartSummary[];
          const same =
            listed.length === parts.length &&
            listed.every((p, i) => p.name === parts[i]!.name && p.sha256 === parts[i]!.sha256);
          if (!same) throw damaged('its manifest does not match its parts');
          manifest = m;
          break;
        }
        default:
          throw damaged(`unknown record type ${type}`);
      }
    }
  }

  return {
    path,
    header,
    events,
    manifest() {
      if (!manifest) throw new Error('manifest read before the archive was read to the end');
      return manifest;
    },
  };
}

/** Reads only the header (no key needed): for `list` and compatibility checks. */
export async function readArchiveHeader(path: string): Promise<ArchiveHeader> {
  return (await readPreamble(path)).header;
}
