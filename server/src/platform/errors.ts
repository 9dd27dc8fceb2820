// Typed errors carry their HTTP status and a stable code; one error handler (app.ts) maps them.
export class AppError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: Record<string, unknown> | undefined;
  constructor(status: number, code: string, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = new.target.name;
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export class BadRequestError extends AppError {
  constructor(message: string, field?: string) {
    super(400, 'bad_request', message, field === undefined ? undefined : { field });
  }
}

/** A chat text longer than the configured limit (counted in Unicode code points). */
export class TextTooLongError extends AppError {
  constructor(field: string, maxChars: number) {
    super(400, 'text_too_long', `${field}: longer than ${maxChars} characters`, { field, maxChars });
  }
}

export class UnauthorizedError extends AppError {
  constructor(message = 'Sign in first.') {
    super(401, 'unauthorized', message);
  }
}

export class ForbiddenError extends AppError {
  constructor(message = 'You do not have permission to do this.', code = 'forbidden') {
    super(403, code, message);
  }
}

/** Also used for "exists but not yours", so existence does not leak. */
export class NotFoundError extends AppError {
  constructor(what = 'resource') {
    super(404, 'not_found', `No such ${what}.`);
  }
}

export class ConflictError extends AppError {
  constructor(message: string, details?: Record<string, unknown>) {
    super(409, 'conflict', message, details);
  }
}

export class TooManyRequestsError extends AppError {
  readonly retryAfterSeconds: number;
  constructor(message: string, retryAfterSeconds: number, code = 'too_many_requests') {
    super(429, code, message, { retryAfterSeconds });
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export class ServiceUnavailableError extends AppError {
  constructor(message = 'The database is not reachable right now; try again shortly.') {
    super(503, 'unavailable', message);
  }
}

/** A condition that must stop start-up, with a message telling the operator what to do. */
export class FatalStartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FatalStartupError';
  }
}
