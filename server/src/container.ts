// The composition root: repositories → services. Nothing else constructs services.
import type { Logger } from 'pino';
import type { Config } from './config/config.ts';
import { backupJob } from './jobs/backup.ts';
import { pruneSessionsJob } from './jobs/prune-sessions.ts';
import { createScheduler } from './jobs/scheduler.ts';
import { createAuditTrail } from './platform/audit.ts';
import { createAuditSigner } from './platform/audit-signing.ts';
import { createAuditMacKeys } from './platform/audit-mac.ts';
import { auditArchiveJob } from './jobs/audit-archive.ts';
import { auditCheckpointJob } from './jobs/audit-checkpoint.ts';
import { createAuditRepository } from './modules/audit/audit.repository.ts';
import { createAuditService } from './modules/audit/audit.service.ts';
import { registerAuditMetrics } from './modules/audit/audit.metrics.ts';
import type { Database } from './platform/db/database.ts';
import { createHealth } from './platform/health.ts';
import { createMetrics } from './platform/metrics.ts';
import { createCannedRepliesRepository } from './modules/canned-replies/canned-replies.repository.ts';
import { createCannedRepliesService } from './modules/canned-replies/canned-replies.service.ts';
import { createIdentityRepository } from './modules/identity/identity.repository.ts';
import { createIdentityService } from './modules/identity/identity.service.ts';
import { registerBackupMetrics } from './modules/backup/backup.metrics.ts';
import { createBackupRepository } from './modules/backup/backup.repository.ts';
import { createBackupService } from './modules/backup/backup.service.ts';
import { createDirectory } from './modules/identity/directory.ts';
import { createKeyRing } from './platform/crypto/keyring.ts';
import { createPiiProtector } from './platform/crypto/pii-protector.ts';
import { createSecurityRepository } from './modules/security/security.repository.ts';
import { createSecurityService } from './modules/security/security.service.ts';
import { createKeysService } from './modules/security/keys.service.ts';
import { createRetentionService } from './modules/security/retention.service.ts';
import { conversationRetentionJob } from './jobs/conversation-retention.ts';
import { createTeamsRepository } from './modules/teams/teams.repository.ts';
import { createTeamsService } from './modules/teams/teams.service.ts';
import { createContactsRepository } from './modules/contacts/contacts.repository.ts';
import { createContactsService } from './modules/contacts/contacts.service.ts';
import { createWidgetRepository } from './modules/widget/widget.repository.ts';
import { createWidgetService } from './modules/widget/widget.service.ts';
import { createConversationsRepository } from './modules/conversations/conversations.repository.ts';
import { createConversationsService } from './modules/conversations/conversations.service.ts';
import { createVisitorTokens } from './modules/conversations/visitor-tokens.ts';
import { createTranscriptMasking } from './modules/conversations/transcript-masking.ts';
import { attachmentBackupVolume, createAttachmentStore } from './modules/conversations/attachment-store.ts';
import { attachmentOrphansJob } from './jobs/attachment-orphans.ts';
import { createEventBus } from './platform/events.ts';
import { createHub } from './realtime/hub.ts';
import { createAvailabilityRepository } from './modules/availability/availability.repository.ts';
import { createAvailabilityService } from './modules/availability/availability.service.ts';
import { registerRealtimeMetrics } from './realtime/realtime.metrics.ts';
import { createPgBridge } from './realtime/pg-bridge.ts';
import { createSearchRepository } from './modules/search/search.repository.ts';
import { createSearchService } from './modules/search/search.service.ts';
import { createSearchIndexer } from './modules/search/search.indexer.ts';
import { registerSearchMetrics } from './modules/search/search.metrics.ts';
import { createRoutingRulesRepository } from './modules/routing/routing-rules.repository.ts';
import { createRoutingRulesService } from './modules/routing/routing-rules.service.ts';
import { sql } from 'kysely';
import { createBusinessHoursRepository } from './modules/business-hours/business-hours.repository.ts';
import { createBusinessHoursService } from './modules/business-hours/business-hours.service.ts';
import { loadHolidayData } from './modules/business-hours/holiday-data.ts';
import { createRoutingQueueRepository } from './modules/routing/routing-queue.repository.ts';
import { createRoutingEngine } from './modules/routing/assignment.ts';
import { createRoutingQueueService } from './modules/routing/routing-queue.service.ts';
import { createKnowledgeRepository } from './modules/knowledge/knowledge.repository.ts';
import { createKnowledgeService } from './modules/knowledge/knowledge.service.ts';
import { createKnowledgeImportService } from './modules/knowledge/knowledge-import.service.ts';
import type { KnowledgeChange } from './platform/events.ts';

export function createContainer(deps: {
  config: Readonly<Config>;
  db: Database;
  logger: Logger;
  /** The URL `db` connects to (the embedded one when DATABASE_URL is unset); pg_dump needs it. */
  databaseUrl?: string;
  /** Name of this process among replicas (scheduler claims, backup records). */
  replica?: string;
}) {
  const { config, db, logger } = deps;
  const auditMacKeys = createAuditMacKeys(config.auditMacKeys);
  const auditTrail = createAuditTrail(auditMacKeys);
  const keyRing =
    config.encryptionKeys && config.lookupKey ? createKeyRing(config.encryptionKeys, config.lookupKey) : null;
  const security = createSecurityService({
    db,
    repo: createSecurityRepository(),
    auditTrail,
    encryptionConfigured: keyRing !== null,
  });
  const bus = createEventBus();
  // Knowledge-base changes, from this replica (bus) and from others (the NOTIFY bridge): matchers
  // subscribe with knowledge.onChange / knowledgeChanges.
  const knowledgeListeners = new Set<(change: KnowledgeChange) => void>();
  const knowledgeChanged = (change: KnowledgeChange) => {
    for (const l of knowledgeListeners) l(change);
  };
  bus.onEphemeral((event) => {
    if (event.kind === 'knowledge') knowledgeChanged(event.change);
  });
  // Open agent sockets on every replica follow role, team and account changes at once.
  const onAccessChanged = (userIds: string[]) => bus.ephemeral({ kind: 'access', userIds });
  const identity = createIdentityService({
    db,
    repo: createIdentityRepository(),
    auditTrail,
    settings: config,
    keyRing,
    policy: security,
    directory: createDirectory(config),
    directoryTeams: Object.values(config.ldapTeamMap),
    onAccessChanged,
  });
  const teams = createTeamsService({ db, repo: createTeamsRepository(), auditTrail, onAccessChanged });
  const pii = createPiiProtector(keyRing);
  const attachments = createAttachmentStore(config);
  const contacts = createContactsService({
    attachments,
    db,
    repo: createContactsRepository({ pii, sensitiveAttributes: config.piiSensitiveAttributes }),
    auditTrail,
    sensitiveAttributes: config.piiSensitiveAttributes,
  });
  const search = createSearchService({ db, repo: createSearchRepository() });
  const conversations = createConversationsService({
    db,
    repo: createConversationsRepository({ pii }),
    contacts,
    auditTrail,
    tokens: createVisitorTokens({ db, configuredSecret: config.visitorTokenSecret }),
    bus,
    settings: config,
    masking: createTranscriptMasking({ enabled: () => security.transcriptMaskingOn() }),
    attachments,
    search,
    rememberVisitor: (trx, id, context) => routingRules.rememberVisitor(trx, id, context),
  });
  const hub = createHub({
    loadCommitted: (...args) => conversations.loadCommitted(...args),
    logger,
    accessOf: (userId) => conversations.accessOf(userId),
    routingsOf: (ids) => conversations.routingsOf(ids),
    publish: (event) => bus.ephemeral(event),
    presence: { ttlMs: config.presenceTtlSeconds * 1000, refreshMs: (config.presenceTtlSeconds * 1000) / 3 },
    forgetAfterMs: config.realtimeForgetSeconds * 1000,
  });
  const availability = createAvailabilityService({
    db,
    repo: createAvailabilityRepository(),
    bus,
    connected: (userId) => hub.agentStatus(userId) !== 'offline',
  });
  const routingRepo = createRoutingQueueRepository();
  const routingEngine = createRoutingEngine({
    db,
    repo: routingRepo,
    conversations,
    contacts,
    teams,
    availability,
    // The routing rules (routing-rules.*, created below: called only once the app runs).
    decide: (input) => routingRules.decide(input),
    languageOf: (id) => routingRules.languageOf(id),
    logger,
    settings: {
      tickMs: config.routingTickMs,
      offlineGraceSeconds: config.routingOfflineGraceSeconds,
      sweepSeconds: config.routingSweepSeconds,
    },
  });
  if (config.routingEnabled) routingEngine.listen(bus);
  const routingQueue = createRoutingQueueService({
    db,
    repo: routingRepo,
    auditTrail,
    teams,
    availability,
    engine: routingEngine,
  });
  bus.onCommitted((batch) => void hub.offerLocal(batch));
  bus.onEphemeral((event) => hub.ephemeral(event));
  const databaseUrl = deps.databaseUrl ?? config.databaseUrl;
  const bridge = databaseUrl
    ? createPgBridge({
        databaseUrl,
        notify: async (channel, payload) => {
          await sql`select pg_notify(${channel}, ${payload})`.execute(db);
        },
        hub,
        bus,
        activitySince: (since) => conversations.activitySince(since),
        catchUpSeconds: config.realtimeCatchUpSeconds,
        logger,
        periodic: () => conversations.wakeSnoozed(),
        onRemoteEphemeral: (event) => {
          if (event.kind === 'routing_rules') routingRules.invalidate();
          if (event.kind === 'knowledge') knowledgeChanged(event.change);
        },
      })
    : null;
  const cannedReplies = createCannedRepliesService({ db, repo: createCannedRepliesRepository(), auditTrail });
  const widget = createWidgetService({
    db,
    repo: createWidgetRepository(),
    contacts,
    auditTrail,
    publicUrl: config.publicUrl,
  });
  const businessHours = createBusinessHoursService({
    db,
    repo: createBusinessHoursRepository(),
    auditTrail,
    holidayData: loadHolidayData(),
    requireTeam: async (actor, teamId) => void (await teams.getTeam(actor, teamId)),
    // Which team a widget visitor's chat goes to: the website's default team until routing rules decide.
    teamOfVisit: (visit) => conversations.defaultTeamOfChannel(visit.channelId),
    contacts,
    conversations,
  });
  const routingRules = createRoutingRulesService({
    db,
    repo: createRoutingRulesRepository(),
    auditTrail,
    teams,
    websites: widget,
    bus,
    onReloadError: (err) => logger.warn({ err }, 'routing rules: cache reload failed; will retry'),
  });
  teams.registerUsage((trx, teamId) => routingRules.usesOfTeam(trx, teamId));
  const knowledgeRepo = createKnowledgeRepository();
  const knowledge = createKnowledgeService({
    db,
    repo: knowledgeRepo,
    auditTrail,
    announce: (change) => bus.ephemeral({ kind: 'knowledge', change }),
  });
  const knowledgeImport = createKnowledgeImportService({
    db,
    repo: knowledgeRepo,
    auditTrail,
    knowledge,
    logger,
  });
  const scheduler = createScheduler({ db, logger, timezone: config.timezone, replica: deps.replica });
  const audit = createAuditService({
    db,
    repo: createAuditRepository(),
    auditTrail,
    signer: createAuditSigner(config.auditSigningKey),
    macKeys: auditMacKeys,
    logger,
    settings: config,
  });
  const backup = createBackupService({
    db,
    databaseUrl: deps.databaseUrl ?? config.databaseUrl,
    repo: createBackupRepository(),
    auditTrail,
    settings: config,
    logger,
    replica: scheduler.replica,
    auditChain: audit,
    // Always listed: files stay on the volume after a switch back to database storage.
    volumes: [attachmentBackupVolume(config.attachmentDir)],
  });
  const metrics = createMetrics();
  registerAuditMetrics(metrics.registry, audit);
  registerBackupMetrics(metrics.registry, backup, { rpoHours: config.backupRpoHours });
  registerRealtimeMetrics(metrics.registry, {
    hub,
    appendStats: () => conversations.appendStats(),
    resumeStats: () => conversations.resumeStats(),
  });
  registerSearchMetrics(metrics.registry, search);
  scheduler.register(pruneSessionsJob(identity));
  if (config.backupCron) {
    scheduler.register(backupJob(backup, { schedule: config.backupCron, verify: config.backupVerify }));
  }
  scheduler.register(auditCheckpointJob(audit, config.auditCheckpointSchedule));
  if (config.auditArchiveEnabled) scheduler.register(auditArchiveJob(audit));
  const retention = createRetentionService({ db, auditTrail, settings: config, attachments });
  scheduler.register(attachmentOrphansJob(attachments, db));
  if (config.conversationRetentionDays > 0) {
    scheduler.register(conversationRetentionJob(retention, config.conversationRetentionErase));
  }
  return {
    config,
    db,
    auditTrail,
    keyRing,
    attachments,
    security,
    keys: createKeysService({ db, keyRing, auditTrail }),
    retention,
    health: createHealth({ db }),
    metrics,
    scheduler,
    backup,
    identity,
    teams,
    bus,
    contacts,
    conversations,
    availability,
    search,
    /** The background search indexer; `serve` starts it with the scheduler. */
    searchIndexer: createSearchIndexer({ search, logger }),
    hub,
    /** Cross-replica fan-out; `serve` starts it once the database is ready. */
    bridge,
    audit,
    cannedReplies,
    widget,
    businessHours,
    /** The routing engine (listening when enabled); `serve` starts its tick. */
    routing: routingEngine,
    routingQueue,
    routingRules,
    knowledge,
    knowledgeImport,
    /** Every committed knowledge-base change on any replica; returns the unsubscribe function. */
    onKnowledgeChange(listener: (change: KnowledgeChange) => void) {
      knowledgeListeners.add(listener);
      return () => void knowledgeListeners.delete(listener);
    },
  };
}

export type Container = ReturnType<typeof createContainer>;
