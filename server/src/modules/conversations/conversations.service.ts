// Conversations and messages: the rules. Every write is one transaction (seq assignment,
// state change, audit record together); after COMMIT the service announces what it committed
// on the events bus (the hub delivers it, the NOTIFY bridge tells other replicas).
//
// Delivery guarantees implemented here:
// - idempotent sends: (conversation, client id) is unique; a resend returns the stored row;
// - gap-free per-conversation seq, assigned under the conversation's row lock;
// - not visible == does not exist (404), for agents and visitors alike.
import { scanCondition, type MessageSearch } from '../search/search.service.ts';
import { createHash, randomUUID } from 'node:crypto';
import type { AuditActor, AuditTrail } from '../../platform/audit.ts';
import type { Transaction } from 'kysely';
import type { Database, DB, Executor } from '../../platform/db/database.ts';
import {
  BadRequestError,
  ConflictError,
  ForbiddenError,
  NotFoundError,
  ServiceUnavailableError,
  TextTooLongError,
  UnauthorizedError,
} from '../../platform/errors.ts';
import type { CommittedBatch, ConversationRouting, EventBus } from '../../platform/events.ts';
import type {
  ConversationStatus,
  ConversationView,
  MessageView,
  Priority,
  SourcePage,
  VisitorConversationView,
} from '../../realtime/events.ts';
import { textProblem, unstorableCharacter } from '../../realtime/text-rules.ts';
import type { ContactsService } from '../contacts/contacts.service.ts';
import { authorize, isRole, roleHas, type Actor, type Role } from '../identity/permissions.ts';
import type { AttachmentStore } from './attachment-store.ts';
import { cleanFileName, isInlineImage, sniffUpload } from './attachments.ts';
import type {
  AppendInput,
  ConversationRow,
  ConversationsRepository,
  PlainAppendInput,
  PlainAppendRow,
} from './conversations.repository.ts';
import { createGroupCommit } from './group-commit.ts';
import { createInboxCounts } from './inbox-counts.ts';
import { MESSAGE_EDIT_WINDOW_MS } from '../../realtime/events.ts';
import { toConversationView, toMessageView, toVisitorConversationView, toVisitorMessage } from './views.ts';
import { NO_TRANSCRIPT_MASKING, type TranscriptMasking } from './transcript-masking.ts';
import { canSee, scopeOf } from './visibility.ts';
import { identityHashMatches, type VisitorIdentity, type VisitorTokens } from './visitor-tokens.ts';

/** Recall and edit are allowed this long after sending. */
export const EDIT_WINDOW_MS = MESSAGE_EDIT_WINDOW_MS;
const PAGE_MAX = 200;

export interface ConversationsSettings {
  messageMaxChars: number;
  attachmentMaxBytes: number;
}

export interface SendResult {
  message: MessageView;
  /** True when this client id was already stored: nothing new was written. */
  duplicate: boolean;
  /** The conversation's routing after the send (plain text sends). */
  routing?: ConversationRouting;
}

export interface ListFilters {
  status?: ConversationStatus | undefined;
  view?: 'mine' | 'unassigned' | 'team' | 'all' | undefined;
  teamId?: string | undefined;
  /** Only this contact's conversations (the customer's previous conversations). */
  contactId?: string | undefined;
  q?: string | undefined;
  cursor?: string | undefined;
  limit?: number | undefined;
}

export type AgentConversation = ConversationView & { unread: number; readSeq: number };

export interface UploadedFile {
  fileName: string | undefined;
  data: Buffer;
}

export interface AttachmentContent {
  fileName: string;
  contentType: string;
  data: Buffer;
  inline: boolean;
}

class Duplicate extends Error {}

function auditActorOf(actor: Actor): AuditActor {
  return { id: actor.userId, name: actor.username, ip: actor.ip, userAgent: actor.userAgent };
}
function visitorAuditActor(v: VisitorIdentity): AuditActor {
  return { id: null, name: `visitor:${v.contactId}`, ip: null, userAgent: null };
}

function encodeCursor(at: string, id: string): string {
  return Buffer.from(JSON.stringify([at, id])).toString('base64url');
}
function decodeCursor(cursor: string): { at: Date; id: string } {
  try {
    const [at, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [string, string];
    const date = new Date(at);
    if (Number.isNaN(date.getTime()) || typeof id !== 'string') throw new Error('bad');
    return { at: date, id };
  } catch {
    throw new BadRequestError('cursor: is not a cursor this server gave out', 'cursor');
  }
}

export function createConversationsService(deps: {
  db: Database;
  repo: ConversationsRepository;
  contacts: ContactsService;
  auditTrail: AuditTrail;
  tokens: VisitorTokens;
  bus: EventBus;
  settings: ConversationsSettings;
  /** Transcript masking (security setting); off when not given. */
  masking?: TranscriptMasking;
  attachments: AttachmentStore;
  /** Message search (modules/search); without it, a plain substring scan of the messages. */
  search?: MessageSearch;
  /**
   * What the widget reported about the visitor when a conversation starts (its language), kept
   * by routing (modules/routing) in the transaction that creates the conversation.
   */
  rememberVisitor?: (
    trx: Executor,
    conversationId: string,
    context: { language?: string | undefined },
  ) => Promise<void>;
}) {
  const { db, repo, contacts, auditTrail, tokens, bus, settings, attachments: store } = deps;
  const masking = deps.masking ?? NO_TRANSCRIPT_MASKING;
  /** Plain sends of one event-loop turn share one statement and one commit (group-commit.ts). */
  const plainAppends = createGroupCommit<PlainAppendInput, PlainAppendRow | null>({
    many: (inputs) => repo.appendPlainMessages(db, inputs),
    one: (input) => repo.appendPlainMessage(db, input),
    maxBatch: 100,
    maxInFlight: 4,
  });
  /** Resumes of one event-loop turn (a reconnect storm) share one read the same way. */
  type ResumeRead = { conversationId: string; afterSeq: number; includePrivate: boolean; limit: number };
  const resumeReads = createGroupCommit<ResumeRead, Awaited<ReturnType<typeof repo.routingAndMessagesAfter>>>(
    {
      many: async (reads) => {
        // One statement per page size (every caller uses the same one in practice).
        const limit = reads[0]!.limit;
        if (reads.some((r) => r.limit !== limit)) return Promise.all(reads.map(readOne));
        return repo.routingAndMessagesAfterMany(db, reads, limit);
      },
      one: readOne,
      maxBatch: 200,
      maxInFlight: 2,
    },
  );
  function readOne(r: ResumeRead) {
    return repo.routingAndMessagesAfter(db, r.conversationId, r.afterSeq, {
      limit: r.limit,
      includePrivate: r.includePrivate,
    });
  }

  /** The one check of every chat text (send, note, edit), for WebSocket and HTTP alike. */
  function checkText(text: string, field = 'text'): string {
    const unstorable = unstorableCharacter(text);
    if (unstorable)
      throw new BadRequestError(`${field}: contains ${unstorable}, which cannot be stored`, field);
    const problem = textProblem(text, settings.messageMaxChars);
    if (problem === 'empty') throw new BadRequestError(`${field}: must not be empty`, field);
    if (problem === 'too_long') throw new TextTooLongError(field, settings.messageMaxChars);
    return text;
  }

  /**
   * A stored message found by its client id answers a resend only when the same sender sent
   * it: the conversation's visitor (whatever token names them now), or the same agent. Another
   * sender's client id is a conflict — never that sender's ack, never their (private) message.
   */
  function sameSenderOrConflict(
    stored: { sender_type: string; sender_id: string | null },
    sender: { type: 'visitor' | 'agent'; id: string },
  ) {
    const same =
      stored.sender_type === sender.type && (sender.type === 'visitor' || stored.sender_id === sender.id);
    if (!same) {
      throw new ConflictError(
        'clientId: already used by another sender in this conversation; send with a new client id',
        { field: 'clientId' },
      );
    }
  }

  function routingOf(c: {
    id: string;
    contact_id: string;
    team_id: string | null;
    assignee_id: string | null;
  }) {
    return { conversationId: c.id, contactId: c.contact_id, teamId: c.team_id, assigneeId: c.assignee_id };
  }

  async function views(conversationId: string, dbx: Executor = db) {
    const row = await repo.findConversation(dbx, conversationId);
    if (!row) return undefined;
    const agentRead = await repo.maxAgentReadSeq(dbx, conversationId);
    return { agent: toConversationView(row), visitor: toVisitorConversationView(row, agentRead?.seq ?? 0) };
  }

  /** The conversation if the agent may see it; otherwise the same 404 as a missing one. */
  async function visibleConversation(actor: Actor, id: string, dbx: Executor = db): Promise<ConversationRow> {
    authorize(actor, 'conversations.read');
    const row = await repo.findConversation(dbx, id);
    if (!row || !canSee(actor, row)) throw new NotFoundError('conversation');
    return row;
  }

  async function visitorConversation(v: VisitorIdentity, id: string, dbx: Executor = db) {
    const row = await repo.findConversation(dbx, id);
    if (!row || row.contact_id !== v.contactId) throw new NotFoundError('conversation');
    return row;
  }

  /**
   * Appends messages in one transaction (each bumps the seq), runs `more` inside it (audit,
   * other writes), commits, then announces the batch. A duplicate client id rolls everything
   * back and returns the stored message instead.
   */
  async function append(
    inputs: AppendInput[],
    opts: {
      senderName: string | null;
      attachment?: MessageView['attachment'];
      more?: (trx: Transaction<DB>, routing: ConversationRouting) => Promise<void>;
      /** Lock and check the conversation first (agents: visibility under the lock). */
      check?: (trx: Transaction<DB>) => Promise<void>;
    },
  ): Promise<SendResult[]> {
    const first = inputs[0]!;
    let batch: CommittedBatch;
    let stateChanged: boolean;
    try {
      ({ batch, stateChanged } = await db.transaction().execute((trx) => appendIn(trx, inputs, opts)));
    } catch (err) {
      if (!(err instanceof Duplicate)) throw err;
      const stored = await repo.findMessageByClientId(db, first.conversationId, first.clientId!);
      // Reported as a duplicate but not readable now (its conversation was just deleted, say):
      // `unavailable` is the code that tells a client to resend with the same client id.
      if (!stored) throw new ServiceUnavailableError('The message is being stored; resend it.');
      sameSenderOrConflict(stored, {
        type: first.senderType === 'visitor' ? 'visitor' : 'agent',
        id: first.senderId ?? '',
      });
      return [{ message: toMessageView(stored), duplicate: true }];
    }
    if (stateChanged) batch.conversation = await views(first.conversationId);
    bus.committed(batch);
    return batch.messages.map((message) => ({ message, duplicate: false }));
  }

  /** The body of `append`, inside a transaction the caller opened (routing runs it in its own). */
  async function appendIn(
    trx: Transaction<DB>,
    inputs: AppendInput[],
    opts: {
      senderName: string | null;
      attachment?: MessageView['attachment'];
      more?: (trx: Transaction<DB>, routing: ConversationRouting) => Promise<void>;
      check?: (trx: Transaction<DB>) => Promise<void>;
    },
  ): Promise<{ batch: CommittedBatch; stateChanged: boolean }> {
    let stateChanged = false;
    await opts.check?.(trx);
    const messages: MessageView[] = [];
    let routing: ConversationRouting | undefined;
    let former: CommittedBatch['formerRouting'];
    for (const input of inputs) {
      const r = await repo.appendMessage(trx, input);
      if (!r) throw new NotFoundError('conversation');
      if (r.duplicate) throw new Duplicate();
      if (input.original !== undefined) await repo.setMessageOriginal(trx, r.messageId, input.original);
      const c = r.conversation;
      routing = routingOf(c);
      if (c.status !== c.previous_status || input.patch) stateChanged = true;
      if (c.team_id !== c.previous_team_id || c.assignee_id !== c.previous_assignee_id) {
        former ??= { teamId: c.previous_team_id, assigneeId: c.previous_assignee_id };
      }
      const reopened = input.reopen && c.previous_status !== c.status;
      messages.push({
        id: r.messageId,
        conversationId: input.conversationId,
        seq: c.last_seq,
        clientId: input.clientId,
        senderType: input.senderType,
        senderId: input.senderId,
        senderName: input.senderType === 'agent' ? opts.senderName : null,
        kind: input.kind,
        text: input.body,
        private: input.private,
        attachment: input.attachmentId ? (opts.attachment ?? null) : null,
        event: input.event,
        recalled: false,
        editedAt: null,
        createdAt: r.createdAt.toISOString(),
        masked: input.original !== undefined,
      });
      if (reopened) {
        // A customer message reopens the conversation; the system message tells every replica.
        const event = {
          type: 'status_changed',
          status: 'open',
          previousStatus: c.previous_status,
          reason: 'visitor_message',
        };
        const sys = await repo.appendMessage(trx, systemInput(input.conversationId, null, event));
        if (!sys || sys.duplicate) throw new Error('could not append the reopen event');
        messages.push({
          id: sys.messageId,
          conversationId: input.conversationId,
          seq: sys.conversation.last_seq,
          clientId: null,
          senderType: 'system',
          senderId: null,
          senderName: null,
          kind: 'system',
          text: '',
          private: false,
          attachment: null,
          event,
          recalled: false,
          editedAt: null,
          createdAt: sys.createdAt.toISOString(),
          masked: false,
        });
      }
    }
    await opts.more?.(trx, routing!);
    return { batch: { routing: routing!, messages, formerRouting: former }, stateChanged };
  }

  /**
   * A plain text message from a visitor or an agent: one statement (lock, dedupe, bump, insert
   * — and the reopen notice when a visitor message reopens the conversation), then announce.
   */
  async function appendPlain(input: {
    conversationId: string;
    contactId: string | null;
    clientId: string;
    senderType: 'visitor' | 'agent';
    senderId: string;
    senderName: string | null;
    text: string;
    private: boolean;
    /** Agents other than admins: visibility is checked under the conversation's row lock. */
    visibleTo?: string | null;
  }): Promise<SendResult> {
    const stored = await storePlainMessage({
      visibleTo: input.visibleTo ?? null,
      conversationId: input.conversationId,
      contactId: input.contactId,
      clientId: input.clientId,
      senderType: input.senderType,
      senderId: input.senderId,
      body: input.text,
      private: input.private,
      reopen: input.senderType === 'visitor',
      agentReply: input.senderType === 'agent' && !input.private,
    });
    const r = stored.row;
    if (!r) throw new NotFoundError('conversation');
    const routing: ConversationRouting = {
      conversationId: input.conversationId,
      contactId: r.r_contact_id,
      teamId: r.r_team_id,
      assigneeId: r.r_assignee_id,
    };
    if (r.r_duplicate) {
      const stored = await repo.findMessageByClientId(db, input.conversationId, input.clientId);
      // Reported as a duplicate but not readable now (its conversation was just deleted, say):
      // `unavailable` is the code that tells a client to resend with the same client id.
      if (!stored) throw new ServiceUnavailableError('The message is being stored; resend it.');
      sameSenderOrConflict(stored, { type: input.senderType, id: input.senderId });
      return { message: toMessageView(stored), duplicate: true, routing };
    }
    const message: MessageView = {
      id: r.r_message_id,
      conversationId: input.conversationId,
      seq: r.r_seq,
      clientId: input.clientId,
      senderType: input.senderType,
      senderId: input.senderId,
      senderName: input.senderType === 'agent' ? input.senderName : null,
      kind: 'text',
      text: stored.body,
      private: input.private,
      attachment: null,
      event: null,
      recalled: false,
      editedAt: null,
      createdAt: r.r_created_at.toISOString(),
      masked: stored.masked,
    };
    const batch: CommittedBatch = { routing, messages: [message] };
    if (r.r_reopen_message_id && r.r_reopen_seq !== null && r.r_reopen_created_at) {
      batch.messages.push({
        ...message,
        id: r.r_reopen_message_id,
        seq: r.r_reopen_seq,
        clientId: null,
        senderType: 'system',
        senderId: null,
        senderName: null,
        kind: 'system',
        text: '',
        event: {
          type: 'status_changed',
          status: 'open',
          previousStatus: r.r_previous_status,
          reason: 'visitor_message',
        },
        createdAt: r.r_reopen_created_at.toISOString(),
        masked: false,
      });
      batch.conversation = await views(input.conversationId);
    }
    bus.committed(batch);
    return { message, duplicate: false, routing };
  }

  /**
   * The transcript-masking hook of the send path. Masking off or nothing to mask: the
   * one-statement fast path as it is. Something masked: the same statement with the masked
   * text, and the original sealed, in one transaction.
   */
  async function storePlainMessage(input: PlainAppendInput) {
    const m = await masking.mask(input.body);
    // Not masked (the usual case): the group commit stores it with the other sends of this turn.
    if (!m) return { row: await plainAppends.append(input), body: input.body, masked: false };
    const row = await db.transaction().execute(async (trx) => {
      const r = await repo.appendPlainMessage(trx, { ...input, body: m.body });
      if (r && !r.r_duplicate) await repo.setMessageOriginal(trx, r.r_message_id, m.original);
      return r;
    });
    return { row, body: m.body, masked: true };
  }

  function systemInput(
    conversationId: string,
    actor: Actor | null,
    event: Record<string, unknown>,
    extra: Partial<AppendInput> = {},
  ): AppendInput {
    return {
      conversationId,
      clientId: null,
      senderType: 'system',
      senderId: actor?.userId ?? null,
      kind: 'system',
      body: '',
      private: false,
      attachmentId: null,
      event,
      reopen: false,
      agentReply: false,
      ...extra,
    };
  }

  /** Messages page for either side. */
  async function page(
    conversationId: string,
    q: { afterSeq?: number | undefined; beforeSeq?: number | undefined; limit?: number | undefined },
    includePrivate: boolean,
  ) {
    const limit = Math.min(q.limit ?? 50, PAGE_MAX);
    if (q.afterSeq !== undefined && q.beforeSeq !== undefined) {
      throw new BadRequestError('afterSeq: give afterSeq or beforeSeq, not both', 'afterSeq');
    }
    const rows =
      q.beforeSeq !== undefined
        ? await repo.messagesBefore(db, conversationId, q.beforeSeq, { limit, includePrivate })
        : await repo.messagesAfter(db, conversationId, q.afterSeq ?? 0, { limit, includePrivate });
    return rows.map(toMessageView);
  }

  /**
   * Checks an upload (size, sniffed type) and, on a volume, writes its file durably — before
   * any transaction, so no row lock is held during the write. The row is inserted later, in
   * the message's transaction (`insert`); if that never commits, `discard` removes the file.
   */
  async function prepareUpload(uploader: { type: 'visitor' | 'agent'; id: string }, file: UploadedFile) {
    if (file.data.length > settings.attachmentMaxBytes) {
      throw new BadRequestError(
        `file: larger than ${Math.round(settings.attachmentMaxBytes / 1024 / 1024)} MB`,
        'file',
      );
    }
    const fileName = cleanFileName(file.fileName);
    const sniffed = await sniffUpload(file.data, fileName);
    const id = randomUUID();
    const storageKey = await store.write(id, file.data);
    return {
      kind: sniffed.kind,
      async insert(conversationId: string, trx: Executor) {
        const row = await repo.insertAttachment(trx, {
          id,
          conversationId,
          uploaderType: uploader.type,
          uploaderId: uploader.id,
          fileName,
          contentType: sniffed.contentType,
          data: file.data,
          sha256: createHash('sha256').update(file.data).digest(),
          storageKey,
        });
        return {
          id: row.id,
          fileName: row.file_name,
          contentType: row.content_type,
          sizeBytes: row.size_bytes,
        };
      },
      async discard() {
        if (storageKey) await store.remove(db, [storageKey]);
      },
    };
  }

  async function recallOrEdit(
    who: { type: 'visitor'; visitor: VisitorIdentity } | { type: 'agent'; actor: Actor },
    messageId: string,
    edit: { text: string } | null,
  ): Promise<MessageView> {
    // Check, lock and change inside one transaction; then announce like any append.
    const editMasked = edit ? await masking.mask(edit.text) : null;
    const newText = editMasked?.body ?? edit?.text;
    const out = await db.transaction().execute(async (trx) => {
      const msg = await repo.findMessageForUpdate(trx, messageId);
      if (!msg) throw new NotFoundError('message');
      const conv = await repo.findConversationForUpdate(trx, msg.conversation_id);
      if (!conv) throw new NotFoundError('message');
      if (who.type === 'visitor') {
        if (conv.contact_id !== who.visitor.contactId || msg.private) throw new NotFoundError('message');
        if (msg.sender_type !== 'visitor') throw new ForbiddenError('Only the sender may recall a message.');
      } else {
        if (!canSee(who.actor, conv)) throw new NotFoundError('message');
        if (msg.sender_type !== 'agent' || msg.sender_id !== who.actor.userId) {
          throw new ForbiddenError(`Only the sender may ${edit ? 'edit' : 'recall'} a message.`);
        }
      }
      if (msg.kind === 'system')
        throw new BadRequestError('messageId: system messages cannot be changed', 'messageId');
      if (msg.recalled_at) throw new ConflictError('This message was already recalled.');
      if (Date.now() - msg.created_at.getTime() > EDIT_WINDOW_MS) {
        throw new ConflictError(
          `Messages can only be ${edit ? 'edited' : 'recalled'} within ${EDIT_WINDOW_MS / 60000} minutes of sending.`,
        );
      }
      if (edit && msg.kind !== 'text')
        throw new BadRequestError('messageId: only text messages can be edited', 'messageId');
      const actor = who.type === 'agent' ? who.actor : null;
      if (edit) {
        await repo.editBody(trx, msg.id, newText!);
        if (editMasked || msg.masked)
          await repo.setMessageOriginal(trx, msg.id, editMasked?.original ?? null);
      } else await repo.markRecalled(trx, msg.id);
      const r = await repo.appendMessage(
        trx,
        systemInput(
          conv.id,
          actor,
          edit
            ? { type: 'message_edited', messageId: msg.id, text: newText }
            : { type: 'message_recalled', messageId: msg.id },
          { private: msg.private, senderId: actor?.userId ?? null },
        ),
      );
      if (!r || r.duplicate) throw new Error('could not append the system message');
      // The conversation list shows the latest visible message: a recall or an edit of it changes
      // the preview (a private note never was the preview).
      if (!msg.private) await repo.refreshPreview(trx, conv.id);
      // The audit history keeps what the message said before.
      await auditTrail.record(
        trx,
        actor ? auditActorOf(actor) : visitorAuditActor((who as { visitor: VisitorIdentity }).visitor),
        {
          action: edit ? 'message.edit' : 'message.recall',
          targetType: 'message',
          targetId: msg.id,
          details: {
            conversationId: conv.id,
            previousText: msg.body,
            ...(edit ? { newText } : {}),
          },
        },
      );
      return { systemId: r.messageId, routing: routingOf(r.conversation) };
    });
    const [updated, system] = await Promise.all([
      repo.findMessage(db, messageId),
      repo.findMessage(db, out.systemId),
    ]);
    bus.committed({
      routing: out.routing,
      messages: [toMessageView(system!)],
      conversation: await views(out.routing.conversationId),
    });
    return toMessageView(updated!);
  }

  return {
    /** Waiting work per inbox tab (inbox-counts.ts). */
    ...createInboxCounts({ db }),

    // ---------------- visitors ----------------

    /** Starts or resumes a visitor: returns a (new) token. Verifies user_id + HMAC when given. */
    async startVisitorSession(input: {
      token?: string | undefined;
      channelId?: string | undefined;
      userId?: string | undefined;
      userHash?: string | undefined;
      name?: string | undefined;
      email?: string | undefined;
    }): Promise<{ token: string; contactId: string; channelId: string; verified: boolean }> {
      const existing = input.token ? await tokens.verify(input.token) : null;
      if (input.token && !existing) throw new UnauthorizedError('The visitor token is not valid.');
      const channel = input.channelId
        ? await repo.findChannel(db, input.channelId)
        : existing
          ? await repo.findChannel(db, existing.channelId)
          : await repo.defaultWebChannel(db);
      if (!channel) throw new NotFoundError('channel');
      if ((input.userId === undefined) !== (input.userHash === undefined)) {
        throw new BadRequestError('userHash: userId and userHash go together', 'userHash');
      }
      if (
        input.userId !== undefined &&
        !identityHashMatches(input.userId, input.userHash!, channel.identity_secret)
      ) {
        throw new UnauthorizedError('userHash: does not match userId (identity verification failed)');
      }
      const contactId = await db.transaction().execute(async (trx) => {
        let current = existing ? ((await contacts.exists(trx, existing.contactId))?.id ?? null) : null;
        if (input.userId !== undefined) return contacts.verifyIdentity(trx, current, input.userId);
        current ??= (await contacts.createAnonymous(trx, { name: input.name, email: input.email })).id;
        return current;
      });
      const token = await tokens.sign({ contactId, channelId: channel.id });
      return { token, contactId, channelId: channel.id, verified: input.userId !== undefined };
    },

    async authenticateVisitor(token: string | undefined): Promise<VisitorIdentity> {
      const v = token ? await tokens.verify(token) : null;
      if (!v) throw new UnauthorizedError('A valid visitor token is required.');
      return v;
    },

    /** The visitor's latest unresolved conversation on this channel, or a new one. */
    /**
     * The visitor's unresolved conversation on this channel, or a new one. `sourcePage` (the page
     * the widget is embedded in) is recorded only on a new conversation: it is where they came from.
     */
    async openConversation(
      v: VisitorIdentity,
      input: { sourcePage?: SourcePage | undefined; language?: string | undefined } = {},
    ): Promise<VisitorConversationView> {
      const id = await db.transaction().execute(async (trx) => {
        const contact = await contacts.exists(trx, v.contactId);
        if (!contact) throw new UnauthorizedError('This visitor no longer exists; start a new session.');
        const open = await repo.latestUnresolvedOfContact(trx, v.contactId, v.channelId);
        if (open) return open.id;
        const channel = await repo.findChannel(trx, v.channelId);
        if (!channel) throw new NotFoundError('channel');
        const created = await repo.insertConversation(trx, {
          channelId: v.channelId,
          contactId: v.contactId,
          teamId: channel.default_team_id,
          sourcePage: input.sourcePage,
        });
        if (input.language !== undefined)
          await deps.rememberVisitor?.(trx, created.id, { language: input.language });
        return created.id;
      });
      const row = await repo.findConversation(db, id);
      const read = await repo.maxAgentReadSeq(db, id);
      return toVisitorConversationView(row!, read?.seq ?? 0);
    },

    /** The team a channel's new conversations go to (its default team), or null. */
    async defaultTeamOfChannel(channelId: string): Promise<string | null> {
      return (await repo.findChannel(db, channelId))?.default_team_id ?? null;
    },

    async listVisitorConversations(v: VisitorIdentity): Promise<VisitorConversationView[]> {
      const rows = await repo.conversationsOfContact(db, v.contactId);
      return Promise.all(
        rows.map(async (r) => toVisitorConversationView(r, (await repo.maxAgentReadSeq(db, r.id))?.seq ?? 0)),
      );
    },

    async visitorSend(
      v: VisitorIdentity,
      conversationId: string,
      input: { clientId: string; text: string },
    ): Promise<SendResult> {
      checkText(input.text);
      const r = await appendPlain({
        conversationId,
        contactId: v.contactId,
        clientId: input.clientId,
        senderType: 'visitor',
        senderId: v.contactId,
        senderName: null,
        text: input.text,
        private: false,
      });
      return { ...r, message: toVisitorMessage(r.message)! };
    },

    async visitorHistory(
      v: VisitorIdentity,
      conversationId: string,
      q: { afterSeq?: number | undefined; beforeSeq?: number | undefined; limit?: number | undefined },
    ): Promise<MessageView[]> {
      await visitorConversation(v, conversationId);
      const msgs = await page(conversationId, q, false);
      return msgs.map(toVisitorMessage).filter((m): m is MessageView => m !== null);
    },

    async visitorRead(v: VisitorIdentity, conversationId: string, seq: number): Promise<number> {
      const conv = await visitorConversation(v, conversationId);
      const r = await repo.setVisitorRead(db, conversationId, v.contactId, seq);
      if (!r) throw new NotFoundError('conversation');
      bus.ephemeral({
        kind: 'read',
        routing: routingOf(conv),
        reader: { type: 'visitor', id: v.contactId },
        seq: r.visitor_read_seq,
      });
      return r.visitor_read_seq;
    },

    async visitorTyping(v: VisitorIdentity, conversationId: string, typing: boolean): Promise<void> {
      const conv = await visitorConversation(v, conversationId);
      bus.ephemeral({
        kind: 'typing',
        routing: routingOf(conv),
        who: { type: 'visitor', id: v.contactId, name: conv.contact_name },
        typing,
      });
    },

    async visitorRecall(v: VisitorIdentity, messageId: string): Promise<MessageView> {
      const m = await recallOrEdit({ type: 'visitor', visitor: v }, messageId, null);
      return toVisitorMessage(m)!;
    },

    async visitorUpload(
      v: VisitorIdentity,
      conversationId: string,
      input: { clientId: string; file: UploadedFile },
    ): Promise<SendResult> {
      await visitorConversation(v, conversationId);
      const results = await appendWithUpload(conversationId, { type: 'visitor', id: v.contactId }, input, {
        contactId: v.contactId,
        senderType: 'visitor',
        reopen: true,
        agentReply: false,
      });
      return { message: toVisitorMessage(results.message)!, duplicate: results.duplicate };
    },

    async visitorAttachment(v: VisitorIdentity, attachmentId: string): Promise<AttachmentContent> {
      const a = await repo.findAttachment(db, attachmentId);
      if (!a) throw new NotFoundError('attachment');
      const conv = await repo.findConversation(db, a.conversation_id);
      if (!conv || conv.contact_id !== v.contactId || !(await repo.attachmentVisibleToVisitor(db, a.id))) {
        throw new NotFoundError('attachment');
      }
      return {
        fileName: a.file_name,
        contentType: a.content_type,
        data: await store.read(a),
        inline: isInlineImage(a.content_type),
      };
    },

    // ---------------- agents ----------------

    async listConversations(
      actor: Actor,
      f: ListFilters,
    ): Promise<{ conversations: AgentConversation[]; nextCursor: string | null }> {
      authorize(actor, 'conversations.read');
      const limit = Math.min(f.limit ?? 25, 100);
      let assignee: { kind: 'user'; id: string } | { kind: 'none' } | undefined;
      let teamIds: readonly string[] | undefined;
      switch (f.view ?? 'all') {
        case 'mine':
          assignee = { kind: 'user', id: actor.userId };
          break;
        case 'unassigned':
          assignee = { kind: 'none' };
          break;
        case 'team':
          teamIds = f.teamId ? [f.teamId] : actor.teamIds;
          break;
        case 'all':
          break;
      }
      if (f.teamId && f.view !== 'team') teamIds = [f.teamId];
      const search = f.q?.trim() || undefined;
      // Agents see private notes, so a note's words find its conversation (within their scope).
      const messageMatch = search
        ? deps.search
          ? await deps.search.matchMessages(search, { includePrivate: true })
          : { kind: 'condition' as const, condition: scanCondition(search, { includePrivate: true }) }
        : undefined;
      const rows = await repo.listConversations(db, {
        scope: scopeOf(actor),
        userId: actor.userId,
        status: f.status,
        assignee,
        teamIds,
        contactId: f.contactId,
        search,
        messageMatch,
        after: f.cursor ? decodeCursor(f.cursor) : undefined,
        limit: limit + 1,
      });
      const more = rows.length > limit;
      const pageRows = rows.slice(0, limit);
      const last = pageRows[pageRows.length - 1];
      return {
        conversations: pageRows.map((r) => ({
          ...toConversationView(r),
          unread: Number(r.unread ?? 0),
          readSeq: Number(r.read_seq),
        })),
        nextCursor: more && last ? encodeCursor(new Date(last.sort_at).toISOString(), last.id) : null,
      };
    },

    async getConversation(actor: Actor, id: string): Promise<AgentConversation> {
      const row = await visibleConversation(actor, id);
      const read = await repo.agentReadSeq(db, id, actor.userId);
      const readSeq = read?.read_seq ?? 0;
      const unread = await repo.messagesAfter(db, id, readSeq, { limit: 1000, includePrivate: false });
      return {
        ...toConversationView(row),
        readSeq,
        unread: unread.filter((m) => m.sender_type === 'visitor').length,
      };
    },

    async messages(
      actor: Actor,
      id: string,
      q: { afterSeq?: number | undefined; beforeSeq?: number | undefined; limit?: number | undefined },
    ): Promise<MessageView[]> {
      await visibleConversation(actor, id);
      return page(id, q, true);
    },

    async agentSend(
      actor: Actor,
      conversationId: string,
      input: { clientId: string; text: string; private?: boolean | undefined },
    ): Promise<SendResult> {
      authorize(actor, 'conversations.reply');
      checkText(input.text);
      // Visibility is part of the append statement (under the row lock, against the live team
      // membership): a concurrent transfer cannot let one more message through.
      return appendPlain({
        visibleTo: actor.role === 'admin' ? null : actor.userId,
        conversationId,
        contactId: null,
        clientId: input.clientId,
        senderType: 'agent',
        senderId: actor.userId,
        senderName: actor.displayName,
        text: input.text,
        private: input.private ?? false,
      });
    },

    async agentUpload(
      actor: Actor,
      conversationId: string,
      input: { clientId: string; file: UploadedFile; private?: boolean | undefined },
    ): Promise<SendResult> {
      authorize(actor, 'conversations.reply');
      await visibleConversation(actor, conversationId);
      return appendWithUpload(conversationId, { type: 'agent', id: actor.userId }, input, {
        senderType: 'agent',
        senderName: actor.displayName,
        reopen: false,
        agentReply: !(input.private ?? false),
        private: input.private ?? false,
        check: async (trx) => {
          const c = await repo.findConversationForUpdate(trx, conversationId);
          if (!c || !canSee(actor, c)) throw new NotFoundError('conversation');
        },
      });
    },

    async agentAttachment(actor: Actor, attachmentId: string): Promise<AttachmentContent> {
      authorize(actor, 'conversations.read');
      const a = await repo.findAttachment(db, attachmentId);
      if (!a) throw new NotFoundError('attachment');
      const conv = await repo.findConversation(db, a.conversation_id);
      if (!conv || !canSee(actor, conv)) throw new NotFoundError('attachment');
      return {
        fileName: a.file_name,
        contentType: a.content_type,
        data: await store.read(a),
        inline: isInlineImage(a.content_type),
      };
    },

    async agentRead(actor: Actor, conversationId: string, seq: number): Promise<number> {
      const conv = await visibleConversation(actor, conversationId);
      const r = await repo.setAgentRead(db, conversationId, actor.userId, Math.min(seq, conv.last_seq));
      bus.ephemeral({
        kind: 'read',
        routing: routingOf(conv),
        reader: { type: 'agent', id: actor.userId },
        seq: r.read_seq,
      });
      return r.read_seq;
    },

    async agentTyping(actor: Actor, conversationId: string, typing: boolean): Promise<void> {
      const conv = await visibleConversation(actor, conversationId);
      bus.ephemeral({
        kind: 'typing',
        routing: routingOf(conv),
        who: { type: 'agent', id: actor.userId, name: actor.displayName },
        typing,
      });
    },

    agentRecall(actor: Actor, messageId: string): Promise<MessageView> {
      authorize(actor, 'conversations.reply');
      return recallOrEdit({ type: 'agent', actor }, messageId, null);
    },

    agentEdit(actor: Actor, messageId: string, text: string): Promise<MessageView> {
      authorize(actor, 'conversations.reply');
      return recallOrEdit({ type: 'agent', actor }, messageId, { text: checkText(text) });
    },

    /** The agent takes an unassigned conversation (or one already theirs). */
    async claim(actor: Actor, conversationId: string): Promise<ConversationView> {
      authorize(actor, 'conversations.manage');
      await changeAssignment(actor, conversationId, { assigneeId: actor.userId }, 'claim');
      return (await views(conversationId))!.agent;
    },

    /** Supervisors and admins assign (or unassign) anyone in scope, optionally moving the team. */
    async assign(
      actor: Actor,
      conversationId: string,
      input: { assigneeId: string | null; teamId?: string | null | undefined },
    ): Promise<ConversationView> {
      authorize(actor, 'conversations.assign');
      await changeAssignment(actor, conversationId, input, 'assign');
      return (await views(conversationId))!.agent;
    },

    /** Hand the conversation to another agent, with a note only agents see. */
    async transfer(
      actor: Actor,
      conversationId: string,
      input: { assigneeId: string; note?: string | undefined },
    ): Promise<ConversationView> {
      authorize(actor, 'conversations.manage');
      await changeAssignment(actor, conversationId, { assigneeId: input.assigneeId }, 'transfer', input.note);
      return (await views(conversationId))!.agent;
    },

    async setStatus(
      actor: Actor,
      conversationId: string,
      status: ConversationStatus,
      snoozedUntil?: Date,
    ): Promise<ConversationView> {
      authorize(actor, 'conversations.manage');
      if (status === 'snoozed') {
        if (!snoozedUntil || snoozedUntil.getTime() <= Date.now()) {
          throw new BadRequestError('until: must be a time in the future', 'until');
        }
      }
      let previous = '';
      await append(
        [
          systemInput(
            conversationId,
            actor,
            {
              type: 'status_changed',
              status,
              ...(snoozedUntil ? { snoozedUntil: snoozedUntil.toISOString() } : {}),
            },
            {
              patch: {
                status,
                snoozedUntil: status === 'snoozed' ? snoozedUntil! : null,
                ...(status === 'resolved' ? { resolvedAt: 'now' as const } : { resolvedAt: null }),
              },
            },
          ),
        ],
        {
          senderName: actor.displayName,
          check: async (trx) => {
            const c = await repo.findConversationForUpdate(trx, conversationId);
            if (!c || !canSee(actor, c)) throw new NotFoundError('conversation');
            previous = c.status;
            if (c.status === status && status !== 'snoozed')
              throw new ConflictError(`The conversation is already ${status}.`);
          },
          more: async (trx) => {
            if (status === 'resolved' || previous === 'resolved') {
              await auditTrail.record(trx, auditActorOf(actor), {
                action: status === 'resolved' ? 'conversation.resolve' : 'conversation.reopen',
                targetType: 'conversation',
                targetId: conversationId,
                details: { from: previous, to: status },
              });
            }
          },
        },
      );
      return (await views(conversationId))!.agent;
    },

    async setPriority(actor: Actor, conversationId: string, priority: Priority): Promise<ConversationView> {
      authorize(actor, 'conversations.manage');
      await append(
        [
          systemInput(
            conversationId,
            actor,
            { type: 'priority_changed', priority },
            { private: true, patch: { priority } },
          ),
        ],
        {
          senderName: actor.displayName,
          check: async (trx) => {
            const c = await repo.findConversationForUpdate(trx, conversationId);
            if (!c || !canSee(actor, c)) throw new NotFoundError('conversation');
          },
        },
      );
      return (await views(conversationId))!.agent;
    },

    async deleteConversation(actor: Actor, conversationId: string): Promise<void> {
      authorize(actor, 'conversations.delete');
      const files = await db.transaction().execute(async (trx) => {
        const keys = await store.keysOfConversations(trx, [conversationId]);
        const deleted = await repo.deleteConversation(trx, conversationId);
        if (!deleted) throw new NotFoundError('conversation');
        await auditTrail.record(trx, auditActorOf(actor), {
          action: 'conversation.delete',
          targetType: 'conversation',
          targetId: conversationId,
          details: { contactId: deleted.contact_id },
        });
        return keys;
      });
      await store.remove(db, files);
    },

    /**
     * The text as typed of a masked message: an explicit action needing pii.reveal, audited in
     * the same transaction. Not visible = not found, as everywhere.
     */
    async revealMessage(actor: Actor, messageId: string): Promise<{ id: string; text: string }> {
      authorize(actor, 'pii.reveal');
      return db.transaction().execute(async (trx) => {
        const msg = await repo.findMessageOriginal(trx, messageId);
        if (!msg) throw new NotFoundError('message');
        await visibleConversation(actor, msg.conversation_id, trx).catch((err: unknown) => {
          throw err instanceof NotFoundError ? new NotFoundError('message') : err;
        });
        if (!msg.masked) throw new ConflictError('Nothing in this message is masked.');
        if (msg.original === null) {
          throw new ConflictError(
            'The original of this message was not kept (no encryption keys were configured when it was sent).',
          );
        }
        await auditTrail.record(trx, auditActorOf(actor), {
          action: 'message.pii_reveal',
          targetType: 'message',
          targetId: messageId,
          details: { conversationId: msg.conversation_id },
        });
        return { id: msg.id, text: msg.original };
      });
    },

    /** Channels with their identity-verification secrets (admins). */
    async listChannels(actor: Actor) {
      authorize(actor, 'channels.manage');
      const rows = await repo.listChannels(db);
      return rows.map((c) => ({
        id: c.id,
        type: c.type,
        name: c.name,
        identitySecret: c.identity_secret,
        defaultTeamId: c.default_team_id,
        createdAt: c.created_at.toISOString(),
      }));
    },

    // ---------------- realtime support (hub and NOTIFY bridge) ----------------

    /**
     * Everything a replica needs to deliver messages (afterSeq, uptoSeq] of a conversation;
     * with `createdSince`, starting lower if needed to include every message created since then.
     */
    async loadCommitted(
      conversationId: string,
      afterSeq: number,
      uptoSeq?: number,
      createdSince?: Date,
    ): Promise<CommittedBatch | null> {
      // One statement for the routing and the rows; the conversation views (two more reads)
      // only when a system message (assignment, status …) changed the conversation.
      const r = await repo.routingAndMessagesAfter(db, conversationId, afterSeq, {
        uptoSeq,
        createdSince,
        limit: 1000,
        includePrivate: true,
      });
      if (!r) return null;
      const row = r.routing;
      const rows = r.messages;
      const messages = rows.map(toMessageView);
      let former: CommittedBatch['formerRouting'];
      for (const m of messages) {
        const e = m.event;
        if (e && (e.type === 'assigned' || e.type === 'transferred')) {
          former = {
            teamId: (e.fromTeamId as string | null) ?? null,
            assigneeId: (e.fromAssigneeId as string | null) ?? null,
          };
        }
      }
      return {
        routing: routingOf(row),
        messages,
        conversation: messages.some((m) => m.kind === 'system') ? await views(conversationId) : undefined,
        formerRouting: former,
      };
    },

    /**
     * A resume's first replay page together with the access check, in one round trip: the same
     * 404 as a missing conversation unless the socket may see it (agents: canSee; visitors: their
     * own conversations).
     */
    async resumeFirstPage(
      who: { visitor: VisitorIdentity } | { actor: Actor },
      conversationId: string,
      afterSeq: number,
      limit: number,
    ): Promise<{ routing: ConversationRouting; lastSeq: number; messages: MessageView[] }> {
      const isAgent = 'actor' in who;
      if (isAgent) authorize(who.actor, 'conversations.read');
      const r = await resumeReads.append({ conversationId, afterSeq, includePrivate: isAgent, limit });
      if (!r || (isAgent ? !canSee(who.actor, r.routing) : r.routing.contact_id !== who.visitor.contactId)) {
        throw new NotFoundError('conversation');
      }
      return {
        routing: routingOf(r.routing),
        lastSeq: r.routing.last_seq,
        messages: r.messages.map(toMessageView),
      };
    },
    /** Group commit of plain sends: statements run and sends they carried (metrics, tests). */
    appendStats() {
      return plainAppends.stats();
    },
    /** The same for the resume reads. */
    resumeStats() {
      return resumeReads.stats();
    },
    /** Replay page for a resuming socket. */
    async replay(conversationId: string, afterSeq: number, includePrivate: boolean): Promise<MessageView[]> {
      const rows = await repo.messagesAfter(db, conversationId, afterSeq, { limit: 500, includePrivate });
      return rows.map(toMessageView);
    },

    /** A user's current role and teams (null: gone or disabled), for open sockets. */
    async accessOf(userId: string): Promise<{ role: Role; teamIds: string[] } | null> {
      const user = await repo.userForAssignment(db, userId);
      if (!user || user.disabled_at || !isRole(user.role)) return null;
      const teams = await repo.teamIdsOfUser(db, userId);
      return { role: user.role, teamIds: teams.map((t) => t.team_id) };
    },
    routingsOf(ids: string[]) {
      return repo.routingsOf(db, ids);
    },

    activitySince(since: Date) {
      return repo.activitySince(db, since);
    },

    // ---------------- routing support (modules/routing; the engine acts as the system) ----------------

    async channelDefaultTeam(channelId: string): Promise<string | null> {
      return (await repo.findChannel(db, channelId))?.default_team_id ?? null;
    },
    routingFacts(ids: readonly string[]) {
      return repo.routingFacts(db, ids);
    },
    /** Each agent's load: open and pending conversations they hold. Read inside routing's lock. */
    async loadOf(dbx: Executor, agentIds: readonly string[]): Promise<Map<string, number>> {
      const rows = await repo.loadOf(dbx, agentIds);
      return new Map(rows.map((r) => [r.assignee_id!, Number(r.n)]));
    },
    unassignedWithVisitorMessage(limit: number) {
      return repo.unassignedWithVisitorMessage(db, limit);
    },
    heldBy(agentId: string) {
      return repo.heldBy(db, agentId);
    },
    async agentAnsweredSince(conversationId: string, agentId: string, since: Date): Promise<boolean> {
      return (await repo.agentAnsweredSince(db, conversationId, agentId, since)) !== undefined;
    },

    /**
     * The routing engine assigns (assigneeId) or returns to the queue (null) inside the
     * transaction it opened after taking its own locks: the conversation's row lock, the same
     * system message and audit record as a manual assignment. Null when the conversation is no
     * longer what routing expects (not open/pending, or its assignee changed meanwhile); else the
     * function that announces the commit (call it after COMMIT).
     */
    async routeInTransaction(
      trx: Transaction<DB>,
      conversationId: string,
      input: {
        assigneeId: string | null;
        /** The assignee's display name when the caller knows it (saves a read). */
        assigneeName?: string;
        teamId: string;
        expectAssigneeId: string | null;
        reason: string;
      },
    ): Promise<(() => Promise<void>) | null> {
      const c = await repo.findConversationForUpdate(trx, conversationId);
      if (!c || (c.status !== 'open' && c.status !== 'pending') || c.assignee_id !== input.expectAssigneeId) {
        return null;
      }
      if (c.assignee_id === input.assigneeId && c.team_id === input.teamId) return null;
      const assigneeName =
        input.assigneeId === null
          ? null
          : (input.assigneeName ??
            (await repo.userForAssignment(trx, input.assigneeId))?.display_name ??
            null);
      const event = {
        type: 'assigned',
        assigneeId: input.assigneeId,
        assigneeName,
        fromAssigneeId: c.assignee_id,
        fromTeamId: c.team_id,
        teamId: input.teamId,
        by: 'routing',
        reason: input.reason,
      };
      const { batch, stateChanged } = await appendIn(
        trx,
        [
          systemInput(conversationId, null, event, {
            patch: { assigneeId: input.assigneeId, teamId: input.teamId },
          }),
        ],
        { senderName: null },
      );
      await auditTrail.record(
        trx,
        { id: null, name: 'routing', ip: null, userAgent: null },
        {
          action: input.assigneeId ? 'conversation.route' : 'conversation.requeue',
          targetType: 'conversation',
          targetId: conversationId,
          details: {
            fromAssigneeId: c.assignee_id,
            toAssigneeId: input.assigneeId,
            fromTeamId: c.team_id,
            toTeamId: input.teamId,
            reason: input.reason,
          },
        },
      );
      return async () => {
        if (stateChanged) batch.conversation = await views(conversationId);
        bus.committed(batch);
      };
    },

    /** Reopens snoozed conversations whose time has come (run periodically). */
    async wakeSnoozed(): Promise<number> {
      const due = await repo.wakeDueSnoozed(db, 100);
      let woken = 0;
      for (const { id } of due) {
        try {
          await append(
            [
              systemInput(
                id,
                null,
                { type: 'status_changed', status: 'open', reason: 'snooze_ended' },
                { patch: { status: 'open', snoozedUntil: null } },
              ),
            ],
            {
              senderName: null,
              check: async (trx) => {
                const c = await repo.findConversationForUpdate(trx, id);
                if (!c || c.status !== 'snoozed') throw new ConflictError('no longer snoozed');
              },
            },
          );
          woken++;
        } catch (err) {
          if (!(err instanceof ConflictError)) throw err;
        }
      }
      return woken;
    },
  };

  async function changeAssignment(
    actor: Actor,
    conversationId: string,
    input: { assigneeId: string | null; teamId?: string | null | undefined },
    how: 'claim' | 'assign' | 'transfer',
    note?: string,
  ): Promise<void> {
    let assigneeName: string | null = null;
    if (input.assigneeId) {
      const target = await repo.userForAssignment(db, input.assigneeId);
      if (!target || target.disabled_at || target.role === 'auditor') {
        throw new BadRequestError('assigneeId: no such agent', 'assigneeId');
      }
      assigneeName = target.display_name;
      if (actor.role === 'supervisor' && how === 'assign') {
        const targetTeams = (await repo.teamIdsOfUser(db, target.id)).map((t) => t.team_id);
        if (target.id !== actor.userId && !targetTeams.some((t) => actor.teamIds.includes(t))) {
          throw new ForbiddenError('Supervisors assign within their own teams.');
        }
      }
    }
    if (input.teamId) {
      if (!(await repo.teamExists(db, input.teamId)))
        throw new BadRequestError('teamId: no such team', 'teamId');
      if (actor.role === 'supervisor' && !actor.teamIds.includes(input.teamId)) {
        throw new ForbiddenError('Supervisors route conversations to their own teams.');
      }
    }
    if (note !== undefined) checkText(note, 'note');
    const noteMasked = note ? await masking.mask(note) : null;
    let before: { team_id: string | null; assignee_id: string | null } = { team_id: null, assignee_id: null };
    const event = (): Record<string, unknown> => ({
      type: how === 'transfer' ? 'transferred' : 'assigned',
      assigneeId: input.assigneeId,
      assigneeName,
      fromAssigneeId: before.assignee_id,
      fromTeamId: before.team_id,
      teamId: input.teamId !== undefined ? input.teamId : before.team_id,
    });
    const inputs: AppendInput[] = [];
    const lazySystem: AppendInput = systemInput(
      conversationId,
      actor,
      {},
      {
        patch: {
          assigneeId: input.assigneeId,
          ...(input.teamId !== undefined ? { teamId: input.teamId } : {}),
        },
      },
    );
    inputs.push(lazySystem);
    if (note) {
      inputs.push({
        conversationId,
        clientId: null,
        senderType: 'agent',
        senderId: actor.userId,
        kind: 'text',
        body: noteMasked?.body ?? note,
        ...(noteMasked ? { original: noteMasked.original } : {}),
        private: true,
        attachmentId: null,
        event: null,
        reopen: false,
        agentReply: false,
      });
    }
    await append(inputs, {
      senderName: actor.displayName,
      check: async (trx) => {
        const c = await repo.findConversationForUpdate(trx, conversationId);
        if (!c || !canSee(actor, c)) throw new NotFoundError('conversation');
        before = c;
        const mayReassign = roleHas(actor.role, 'conversations.assign');
        if (how === 'claim' && c.assignee_id && c.assignee_id !== actor.userId && !mayReassign) {
          throw new ConflictError('Another agent has this conversation.');
        }
        if (how === 'transfer' && c.assignee_id && c.assignee_id !== actor.userId && !mayReassign) {
          throw new ForbiddenError(
            'Only the assigned agent (or a supervisor) can transfer this conversation.',
          );
        }
        if (c.assignee_id === input.assigneeId && input.teamId === undefined) {
          throw new ConflictError('The conversation is already assigned so.');
        }
        lazySystem.event = event();
      },
      more: async (trx) => {
        if (how === 'claim') return;
        await auditTrail.record(trx, auditActorOf(actor), {
          action: how === 'transfer' ? 'conversation.transfer' : 'conversation.assign',
          targetType: 'conversation',
          targetId: conversationId,
          details: {
            fromAssigneeId: before.assignee_id,
            toAssigneeId: input.assigneeId,
            ...(input.teamId !== undefined ? { fromTeamId: before.team_id, toTeamId: input.teamId } : {}),
            ...(note ? { withNote: true } : {}),
          },
        });
      },
    });
  }

  async function appendWithUpload(
    conversationId: string,
    uploader: { type: 'visitor' | 'agent'; id: string },
    input: { clientId: string; file: UploadedFile },
    o: {
      contactId?: string;
      senderType: 'visitor' | 'agent';
      senderName?: string;
      reopen: boolean;
      agentReply: boolean;
      private?: boolean;
      check?: (trx: Transaction<DB>) => Promise<void>;
    },
  ): Promise<SendResult> {
    // Reject a resend before storing the file again.
    const stored = await repo.findMessageByClientId(db, conversationId, input.clientId);
    if (stored) {
      sameSenderOrConflict(stored, uploader);
      return { message: toMessageView(stored), duplicate: true };
    }
    let attachment: MessageView['attachment'] = null;
    const upload = await prepareUpload(uploader, input.file);
    const appendInput: AppendInput = {
      conversationId,
      ...(o.contactId ? { contactId: o.contactId } : {}),
      clientId: input.clientId,
      senderType: o.senderType,
      senderId: uploader.id,
      kind: 'file',
      body: '',
      private: o.private ?? false,
      attachmentId: null,
      event: null,
      reopen: o.reopen,
      agentReply: o.agentReply,
    };
    let results: SendResult[];
    try {
      results = await append([appendInput], {
        senderName: o.senderName ?? null,
        get attachment() {
          return attachment;
        },
        check: async (trx) => {
          await o.check?.(trx);
          attachment = await upload.insert(conversationId, trx);
          appendInput.attachmentId = attachment.id;
          appendInput.kind = upload.kind;
        },
      });
    } catch (err) {
      await upload.discard();
      throw err;
    }
    // A resend that raced this one: its row rolled back, the file is not needed.
    if (results[0]!.duplicate) await upload.discard();
    return results[0]!;
  }
}

export type ConversationsService = ReturnType<typeof createConversationsService>;
