// /metrics for the audit trail (issue 21, point 3): ages of the newest signed checkpoint and of
// the newest external anchor, and the alert state, computed at scrape time.
import client from 'prom-client';
import type { AuditService } from './audit.service.ts';

export function registerAuditMetrics(registry: client.Registry, audit: Pick<AuditService, 'health'>): void {
  let pending: ReturnType<AuditService['health']> | null = null;
  // One health read per scrape, shared by the three gauges.
  const health = () => {
    pending ??= audit.health().finally(() => setImmediate(() => (pending = null)));
    return pending;
  };
  new client.Gauge({
    name: 'parley_audit_checkpoint_age_seconds',
    help: 'Age of the newest validly signed audit checkpoint (-1: none).',
    registers: [registry],
    async collect() {
      const h = await health();
      this.set(h.checkpoint ? h.checkpoint.ageSeconds : -1);
    },
  });
  new client.Gauge({
    name: 'parley_audit_anchor_age_seconds',
    help: 'Age of the newest line of the external anchor log (-1: none or AUDIT_ANCHOR_DIR unset).',
    registers: [registry],
    async collect() {
      const h = await health();
      this.set(h.anchor ? h.anchor.ageSeconds : -1);
    },
  });
  new client.Gauge({
    name: 'parley_audit_alert',
    help: '1 when audit records are unsigned past two checkpoint intervals or an anchor is missing or failing; else 0.',
    registers: [registry],
    async collect() {
      const h = await health();
      this.set(h.state === 'alert' ? 1 : 0);
    },
  });
}
