// The two WebSocket endpoints. Frames are schema-validated (compiled TypeBox validators); a bad
// frame gets an error frame naming the problem and the connection stays; a flood closes it
// with 1008. Frames of one connection are handled in arrival order, one after another, except
// that sends to different conversations may overlap (their acks may come in another order).
//
//   /api/v1/ws          agents: the session cookie is checked by the auth onRequest hook
//                       before the upgrade (access conversations.read).
//   /api/v1/widget/ws   visitors: the first frame must be `hello` with the visitor token.
import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Compile } from 'typebox/compile';
import type { WebSocket } from 'ws';
import { AppError, ForbiddenError } from '../platform/errors.ts';
import { actorOf } from '../platform/http/auth.plugin.ts';
import type { EventBus } from '../platform/events.ts';
import type { ConversationsService } from '../modules/conversations/conversations.service.ts';
import { toVisitorMessage } from '../modules/conversations/views.ts';
import type { VisitorIdentity } from '../modules/conversations/visitor-tokens.ts';
import type { Actor } from '../modules/identity/permissions.ts';
import {
  CLIENT_FRAME_SCHEMAS,
  type ClientFrame,
  type ClientFrameOf,
  type ClientFrameType,
  type ClientLimits,
  type ErrorCode,
  type MessageView,
  type ServerEvent,
} from './events.ts';
import { newConnection, type Hub, type HubConnection } from './hub.ts';
import { connectionFrames, createIpLimits, tokenBucket } from './rate-limit.ts';
import { findUnstorable, MAX_RESUME_ENTRIES, maxFrameBytes } from './text-rules.ts';

export interface RealtimeSettings {
  messageMaxChars: number;
  wsFramesPerSecond: number;
  wsFramesBurst: number;
  wsMaxConnectionsPerIp: number;
  wsIpFramesPerSecond: number;
  attachmentMaxBytes: number;
  publicUrl: string;
}

const HELLO_TIMEOUT_MS = 10_000;
const HEARTBEAT_MS = 30_000;
/** Typing indicators are forwarded at most this often per socket and conversation. */
const TYPING_THROTTLE_MS = 2000;
/** Beyond this much unsent data the client is not keeping up: close it (it resumes later). */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
/** Sends of one connection handled at the same time (to different conversations). */
const MAX_SENDS_IN_FLIGHT = 32;
/** Messages per replay query when a socket resumes. */
const REPLAY_PAGE = 500;

/** What `ready.limits` tells a client (docs/PROTOCOL.md, "Limits"). */
export function clientLimits(settings: RealtimeSettings): ClientLimits {
  return {
    maxTextChars: settings.messageMaxChars,
    maxFrameBytes: maxFrameBytes(settings.messageMaxChars),
    maxResumeEntries: MAX_RESUME_ENTRIES,
    framesPerSecond: settings.wsFramesPerSecond,
    framesBurst: settings.wsFramesBurst,
    maxSendsInFlight: MAX_SENDS_IN_FLIGHT,
    maxAttachmentBytes: settings.attachmentMaxBytes,
  };
}

type Validators = { [T in ClientFrameType]: ReturnType<typeof Compile<(typeof CLIENT_FRAME_SCHEMAS)[T]>> };

// Text length is not part of the frame schemas: the conversations service checks it (in code
// points, text-rules.ts) for WebSocket and HTTP alike, and answers `text_too_long`.
function compileValidators(): Validators {
  return {
    hello: Compile(CLIENT_FRAME_SCHEMAS.hello),
    resume: Compile(CLIENT_FRAME_SCHEMAS.resume),
    send: Compile(CLIENT_FRAME_SCHEMAS.send),
    typing: Compile(CLIENT_FRAME_SCHEMAS.typing),
    read: Compile(CLIENT_FRAME_SCHEMAS.read),
    recall: Compile(CLIENT_FRAME_SCHEMAS.recall),
    edit: Compile(CLIENT_FRAME_SCHEMAS.edit),
    ping: Compile(CLIENT_FRAME_SCHEMAS.ping),
    presence: Compile(CLIENT_FRAME_SCHEMAS.presence),
  };
}

/** What an error frame echoes of the frame it answers: its ref and client id, when readable. */
interface Echo {
  ref?: string;
  clientId?: string;
}

function echoOf(value: unknown): Echo {
  if (typeof value !== 'object' || value === null) return {};
  const { ref, clientId } = value as { ref?: unknown; clientId?: unknown };
  const short = (v: unknown) => typeof v === 'string' && v.length <= 64;
  return {
    ...(short(ref) ? { ref: ref as string } : {}),
    ...(short(clientId) ? { clientId: clientId as string } : {}),
  };
}

class FrameError extends Error {
  readonly code: ErrorCode;
  readonly field: string | undefined;
  /** The ref and client id of the refused frame, so a pipelining client knows which failed. */
  readonly echo: Echo;
  constructor(code: ErrorCode, message: string, field?: string, echo: Echo = {}) {
    super(message);
    this.code = code;
    this.field = field;
    this.echo = echo;
  }
}

function errorCodeOf(err: AppError): ErrorCode {
  if (err.code === 'text_too_long') return 'text_too_long';
  switch (err.status) {
    case 400:
      return 'bad_frame';
    case 401:
      return 'unauthorized';
    case 403:
      return 'forbidden';
    case 404:
      return 'not_found';
    case 409:
      return 'conflict';
    case 429:
      return 'rate_limited';
    case 503:
      return 'unavailable';
    default:
      return 'internal';
  }
}

export function realtimeRoutes(
  app: FastifyInstance,
  deps: {
    conversations: ConversationsService;
    hub: Hub;
    bus: EventBus;
    settings: RealtimeSettings;
    /** Is the agent's session still live? Checked at every heartbeat: a logout or a disabled
     * account closes the agent's sockets within HEARTBEAT_MS. */
    sessionLive: (request: FastifyRequest) => Promise<boolean>;
  },
) {
  const { conversations, hub, settings } = deps;
  const validators = compileValidators();
  const ipLimits = createIpLimits({
    maxConnections: settings.wsMaxConnectionsPerIp,
    framesPerSecond: settings.wsIpFramesPerSecond,
  });
  const publicOrigin = new URL(settings.publicUrl).origin;

  /** Parses and validates one frame, or throws a FrameError naming the problem. */
  function parseFrame(data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): ClientFrame {
    if (isBinary) throw new FrameError('bad_frame', 'frames are JSON text, not binary');
    const raw = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as Buffer);
    let value: unknown;
    try {
      value = JSON.parse(raw.toString('utf8'));
    } catch {
      throw new FrameError('bad_frame', 'the frame is not valid JSON (unparseable: no ref could be read)');
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new FrameError('bad_frame', 'a frame is a JSON object');
    }
    const echo = echoOf(value);
    const type = (value as { type?: unknown }).type;
    if (typeof type !== 'string') throw new FrameError('bad_frame', 'type: is required', 'type', echo);
    if (!Object.hasOwn(validators, type)) {
      throw new FrameError('unknown_frame', `type: unknown frame type "${type.slice(0, 40)}"`, 'type', echo);
    }
    const unstorable = findUnstorable(value);
    if (unstorable) {
      throw new FrameError(
        'bad_frame',
        `${unstorable.field}: contains ${unstorable.what}, which cannot be stored`,
        unstorable.field,
        echo,
      );
    }
    const validator = validators[type as ClientFrameType];
    if (!validator.Check(value)) {
      const errors = [...validator.Errors(value)];
      const first =
        errors.find((e) => e.keyword === 'additionalProperties') ??
        errors.find((e) => e.keyword !== 'boolean') ??
        errors[0];
      const params = (first?.params ?? {}) as {
        additionalProperties?: string[];
        requiredProperties?: string[];
      };
      let field = (first?.instancePath ?? '').replace(/^\//, '').replace(/\//g, '.');
      if (first?.keyword === 'additionalProperties' && params.additionalProperties?.[0]) {
        throw new FrameError(
          'bad_frame',
          `${params.additionalProperties[0]}: unknown field`,
          params.additionalProperties[0],
          echo,
        );
      }
      if (first?.keyword === 'required' && params.requiredProperties?.[0]) {
        field = params.requiredProperties[0];
        throw new FrameError('bad_frame', `${field}: is required`, field, echo);
      }
      throw new FrameError(
        'bad_frame',
        `${field || 'frame'}: ${first?.message ?? 'is invalid'}`,
        field || undefined,
        echo,
      );
    }
    return value;
  }

  interface Session {
    socket: WebSocket;
    ip: string;
    conn: HubConnection | null;
    visitor: VisitorIdentity | null;
    /** The agent, with the teams the hub last applied (they follow membership changes). */
    readonly actor: Actor | null;
    typingSentAt: Map<string, number>;
  }

  const corked = new Set<Socket>();
  function uncorkAll() {
    for (const raw of corked) raw.uncork();
    corked.clear();
  }

  function rawSocketOf(socket: WebSocket): Socket | undefined {
    return (socket as unknown as { _socket?: Socket })._socket;
  }

  function send(socket: WebSocket, event: ServerEvent) {
    if (socket.readyState !== socket.OPEN) return;
    if (socket.bufferedAmount > MAX_BUFFERED_BYTES) {
      socket.close(1008, 'too slow: resume after reconnecting');
      return;
    }
    // Frames produced in the same event-loop turn (a message, its ack, other events) leave in
    // one write instead of one system call each: the TCP socket is corked until the turn ends.
    const raw = rawSocketOf(socket);
    if (raw && !corked.has(raw)) {
      if (corked.size === 0) setImmediate(uncorkAll);
      raw.cork();
      corked.add(raw);
    }
    socket.send(JSON.stringify(event));
  }

  /** Replays each conversation after lastSeq, then releases live traffic held meanwhile. */
  async function resume(
    s: Session,
    entries: { conversationId: string; lastSeq: number }[],
    ref: string | undefined,
    /** Called once, after the first conversation's first page was sent (or failed). */
    firstPageSent?: () => void,
  ) {
    const conn = s.conn!;
    let onFirst = firstPageSent;
    const firstDone = () => {
      const f = onFirst;
      onFirst = undefined;
      f?.();
    };
    try {
      for (const entry of entries) {
        await resumeOne(s, conn, entry, ref, firstDone);
      }
    } finally {
      firstDone();
    }
  }

  async function resumeOne(
    s: Session,
    conn: HubConnection,
    { conversationId, lastSeq }: { conversationId: string; lastSeq: number },
    ref: string | undefined,
    firstDone: () => void,
  ) {
    // Live events of the conversation are held from before the first read, so the replay (read
    // after it) covers everything delivered before and the held ones continue right after it.
    if (!conn.replaying.has(conversationId)) conn.replaying.set(conversationId, []);
    // The access check and the first page come in one round trip; nothing is sent before
    // the check passed.
    let page: MessageView[];
    let conversationLastSeq: number;
    try {
      const head = await conversations.resumeFirstPage(
        s.visitor ? { visitor: s.visitor } : { actor: s.actor! },
        conversationId,
        lastSeq,
        REPLAY_PAGE,
      );
      page = head.messages;
      conversationLastSeq = head.lastSeq;
      if (s.visitor) hub.visitorFollows(conn, head.routing);
      else if (hub.visitorOnline(conversationId))
        send(s.socket, { type: 'visitor_presence', conversationId, online: true });
    } catch (err) {
      releaseHeld(s, conn, conversationId);
      reportError(s, err, ref ? { ref } : {});
      return;
    }
    // A client ahead of the conversation (its state is newer than the database, e.g. after a
    // restore) is told where the conversation really ends, and continues from there.
    const reset = lastSeq > conversationLastSeq;
    let cursor = reset ? conversationLastSeq : lastSeq;
    let replayed = 0;
    try {
      for (let first = true; ; first = false) {
        if (!first) page = await conversations.replay(conversationId, cursor, s.actor !== null);
        for (const m of page) {
          cursor = m.seq;
          const view = s.visitor ? toVisitorMessage(m) : m;
          if (!view) continue;
          send(s.socket, { type: 'message', message: view });
          replayed++;
        }
        // This turn's frames still leave together (send() corks until the turn ends).
        firstDone();
        if (page.length < REPLAY_PAGE) break;
      }
      // Complete through the conversation's last seq as read (a visitor's replay skips private
      // notes, which may come last).
      cursor = Math.max(cursor, conversationLastSeq);
    } finally {
      conn.sent.set(conversationId, cursor);
      send(s.socket, {
        type: 'resumed',
        ...(ref ? { ref } : {}),
        conversationId,
        lastSeq: cursor,
        replayed,
        ...(reset ? { reset: true as const } : {}),
      });
      releaseHeld(s, conn, conversationId);
    }
  }

  /** Ends holding a conversation's live events: sends those the socket does not have yet. */
  function releaseHeld(s: Session, conn: HubConnection, conversationId: string) {
    const held = conn.replaying.get(conversationId) ?? [];
    conn.replaying.delete(conversationId);
    for (const event of held) {
      if (event.type === 'message') {
        const at = conn.sent.get(conversationId);
        if (at !== undefined && event.message.seq <= at) continue;
        conn.sent.set(conversationId, event.message.seq);
      }
      send(s.socket, event);
    }
  }

  function reportError(s: Session, err: unknown, echo: Echo) {
    let frame: ServerEvent;
    if (err instanceof FrameError) {
      frame = {
        type: 'error',
        ...err.echo,
        code: err.code,
        message: err.message,
        ...(err.field ? { field: err.field } : {}),
      };
    } else if (err instanceof AppError) {
      const field = typeof err.details?.field === 'string' ? err.details.field : undefined;
      frame = {
        type: 'error',
        code: errorCodeOf(err),
        message: err.message,
        ...(field ? { field } : {}),
      };
      if (err.status >= 500) app.log.error({ err }, 'realtime frame failed');
    } else {
      app.log.error({ err }, 'realtime frame failed');
      frame = {
        type: 'error',
        code: 'internal',
        message: 'Something went wrong on the server; resend later.',
      };
    }
    send(s.socket, { ...frame, ...echo });
  }

  function start(s: Session, init: { role: 'visitor'; contactId: string } | { role: 'agent'; actor: Actor }) {
    const conn = newConnection(
      init,
      (event) => send(s.socket, event),
      (code, reason) => s.socket.close(code, reason),
    );
    s.conn = conn;
    return conn;
  }

  async function hello(s: Session, frame: ClientFrameOf<'hello'>) {
    if (s.conn) throw new FrameError('bad_frame', 'hello: this connection already said hello');
    let conn: HubConnection;
    if (s.actor) {
      conn = start(s, { role: 'agent', actor: s.actor });
    } else {
      const visitor = await conversations.authenticateVisitor(frame.token);
      s.visitor = visitor;
      conn = start(s, { role: 'visitor', contactId: visitor.contactId });
    }
    // Live traffic for the conversations being resumed is held until their replay is done.
    for (const r of frame.resume ?? []) conn.replaying.set(r.conversationId, []);
    // With a resume, `ready` leaves together with the first replayed frames: one write (and one
    // read on the client) instead of two. The socket stays corked until the first conversation
    // is replayed (or failed).
    const raw = frame.resume?.length ? rawSocketOf(s.socket) : undefined;
    raw?.cork();
    send(s.socket, {
      type: 'ready',
      connectionId: conn.id,
      role: conn.role,
      subjectId: s.actor ? s.actor.userId : s.visitor!.contactId,
      limits: clientLimits(settings),
    });
    // After `ready`: an agent socket then gets everyone's presence.
    hub.attach(conn);
    if (frame.resume?.length) await resume(s, frame.resume, frame.ref, () => raw?.uncork());
  }

  async function handle(s: Session, frame: ClientFrame) {
    if (frame.type === 'hello') return hello(s, frame);
    if (frame.type === 'ping')
      return send(s.socket, { type: 'pong', ...(frame.ref ? { ref: frame.ref } : {}) });
    if (!s.conn) throw new FrameError('unauthorized', 'send hello first');
    const ref = frame.ref ? { ref: frame.ref } : {};
    switch (frame.type) {
      case 'resume':
        return resume(s, frame.conversations, frame.ref);
      case 'send': {
        const result = s.visitor
          ? await (async () => {
              if (frame.private)
                throw new FrameError('forbidden', 'private: visitors cannot send private notes', 'private');
              return conversations.visitorSend(s.visitor!, frame.conversationId, frame);
            })()
          : await conversations.agentSend(s.actor!, frame.conversationId, frame);
        // A visitor who writes into a conversation is present there, resumed or not.
        if (s.visitor && result.routing) hub.visitorFollows(s.conn, result.routing);
        // Sent only now: the message is committed, and every earlier seq of the conversation
        // this socket may see was handed to it first (the ack never overtakes a message).
        await hub.settled(result.message.conversationId);
        return send(s.socket, {
          type: 'ack',
          ...ref,
          clientId: frame.clientId,
          conversationId: result.message.conversationId,
          messageId: result.message.id,
          seq: result.message.seq,
          createdAt: result.message.createdAt,
        });
      }
      case 'typing': {
        const key = frame.conversationId;
        const last = s.typingSentAt.get(key) ?? 0;
        if (frame.typing && Date.now() - last < TYPING_THROTTLE_MS) return;
        s.typingSentAt.set(key, frame.typing ? Date.now() : 0);
        if (s.visitor) await conversations.visitorTyping(s.visitor, frame.conversationId, frame.typing);
        else await conversations.agentTyping(s.actor!, frame.conversationId, frame.typing);
        return;
      }
      case 'read':
        if (s.visitor) await conversations.visitorRead(s.visitor, frame.conversationId, frame.seq);
        else await conversations.agentRead(s.actor!, frame.conversationId, frame.seq);
        return send(s.socket, { type: 'ok', ...ref });
      case 'recall':
        if (s.visitor) await conversations.visitorRecall(s.visitor, frame.messageId);
        else await conversations.agentRecall(s.actor!, frame.messageId);
        return send(s.socket, { type: 'ok', ...ref });
      case 'presence':
        if (s.visitor) throw new FrameError('forbidden', 'presence: visitors cannot set a status');
        hub.setStatus(s.conn, frame.status);
        return send(s.socket, { type: 'ok', ...ref });
      case 'edit':
        if (s.visitor) throw new FrameError('forbidden', 'visitors cannot edit messages');
        await conversations.agentEdit(s.actor!, frame.messageId, frame.text);
        return send(s.socket, { type: 'ok', ...ref });
    }
  }

  function serveSocket(socket: WebSocket, request: FastifyRequest, actor: Actor | null) {
    const ip = request.ip;
    if (!ipLimits.open(ip)) {
      socket.close(1008, 'too many connections from this address');
      return;
    }
    const s: Session = {
      socket,
      ip,
      conn: null,
      visitor: null,
      get actor() {
        return this.conn?.actor ?? actor;
      },
      typingSentAt: new Map(),
    };
    // Its own bucket, then its address's (a reconnect's first frames excepted: rate-limit.ts).
    const frames = connectionFrames(
      tokenBucket(settings.wsFramesPerSecond, settings.wsFramesBurst),
      ipLimits,
      ip,
    );
    // Order of handling: a frame waits for every earlier frame of the connection, except that
    // sends to different conversations overlap (an agent answering many conversations is not
    // held to one send per round trip); sends to the same conversation stay in order.
    let barrier = Promise.resolve();
    const inFlight = new Set<Promise<void>>();
    const lastSendOf = new Map<string, Promise<void>>();
    let alive = true;
    let closed = false;

    const helloTimer = setTimeout(() => {
      if (!s.conn) socket.close(1008, 'no hello received');
    }, HELLO_TIMEOUT_MS);
    const heartbeat = setInterval(() => {
      if (!alive) return socket.terminate();
      alive = false;
      socket.ping();
      if (actor) {
        deps.sessionLive(request).then(
          (live) => {
            if (!live) {
              send(socket, { type: 'error', code: 'unauthorized', message: 'Your session has ended.' });
              socket.close(1008, 'session ended');
            }
          },
          () => undefined, // database trouble: keep the socket, check again next beat
        );
      }
    }, HEARTBEAT_MS);
    socket.on('pong', () => (alive = true));

    socket.on('message', (data, isBinary) => {
      if (closed) return;
      if (!frames.take()) {
        closed = true;
        send(socket, { type: 'error', code: 'rate_limited', message: 'Too many frames; slow down.' });
        socket.close(1008, 'rate limit exceeded');
        return;
      }
      let frame: ClientFrame;
      try {
        frame = parseFrame(data, isBinary);
      } catch (err) {
        reportError(s, err, {});
        return;
      }
      const run = () => handle(s, frame).catch((err: unknown) => reportError(s, err, echoOf(frame)));
      if (frame.type === 'send' && inFlight.size < MAX_SENDS_IN_FLIGHT) {
        const id = frame.conversationId;
        const prev = lastSendOf.get(id);
        const task = (prev ? Promise.all([barrier, prev]) : barrier).then(run);
        inFlight.add(task);
        lastSendOf.set(id, task);
        void task.then(() => {
          inFlight.delete(task);
          if (lastSendOf.get(id) === task) lastSendOf.delete(id);
        });
      } else {
        const before = inFlight.size ? Promise.all([barrier, ...inFlight]) : barrier;
        barrier = before.then(run);
      }
    });

    socket.on('close', () => {
      closed = true;
      clearTimeout(helloTimer);
      clearInterval(heartbeat);
      ipLimits.close(ip);
      if (s.conn) hub.detach(s.conn);
    });
    socket.on('error', () => undefined);
  }

  app.get(
    '/api/v1/ws',
    {
      websocket: true,
      // The 101 answer is written by ws, not from the reply: security headers would be work for
      // nothing on every (re)connect.
      helmet: false,
      config: { access: 'conversations.read' },
      // Cross-site WebSocket hijacking: a browser sends the cookie from any page, so the
      // Origin (when a browser sets one) must be this server.
      preValidation: async (request) => {
        const origin = request.headers.origin;
        if (origin === undefined) return;
        let host: string;
        try {
          host = new URL(origin).host;
        } catch {
          throw new ForbiddenError('This origin may not open the agent socket.');
        }
        if (host !== request.headers.host && origin !== publicOrigin) {
          throw new ForbiddenError('This origin may not open the agent socket.');
        }
      },
    },
    (socket, request) => serveSocket(socket, request, actorOf(request)),
  );

  app.get(
    '/api/v1/widget/ws',
    { websocket: true, helmet: false, config: { access: 'public' } },
    (socket, request) => serveSocket(socket, request, null),
  );
}
