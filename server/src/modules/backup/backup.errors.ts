// Every way a backup, verification or restore can fail, each with a stable code (tests and
// scripts match on it) and a message that tells the operator what happened and what to do.
export type BackupErrorCode =
  | 'not_a_backup'
  | 'unsupported_format'
  | 'corrupt'
  | 'truncated'
  | 'key_required'
  | 'wrong_key'
  | 'newer_archive'
  | 'target_not_empty'
  | 'target_in_use'
  | 'target_unreachable'
  | 'disk_full'
  | 'tool_missing'
  | 'tool_failed'
  | 'verification_failed'
  | 'scratch_database'
  | 'not_found';

export class BackupError extends Error {
  readonly code: BackupErrorCode;
  constructor(code: BackupErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BackupError';
    this.code = code;
  }
}
