export type Outcome = 'success' | 'failure' | 'denied' | 'unknown';
export type Severity = 'debug' | 'info' | 'low' | 'medium' | 'high' | 'critical';
export type Role = 'admin' | 'analyst' | 'auditor' | 'viewer';

export const OUTCOMES: Outcome[] = ['success', 'failure', 'denied', 'unknown'];
export const SEVERITIES: Severity[] = ['debug', 'info', 'low', 'medium', 'high', 'critical'];

export interface AuditEvent {
  tenant: string;
  seq: number;
  id: string;
  occurred_at: string;
  received_at: string;
  actor: { id: string; type: string; name: string | null; ip: string | null; user_agent: string | null };
  action: string;
  resource: { type: string; id: string; name: string | null } | null;
  outcome: Outcome;
  severity: Severity;
  details: Record<string, unknown>;
  tags: string[];
  prev_hash: string;
  hash: string;
}

export interface InclusionProof {
  leaf_index: number;
  tree_size: number;
  leaf_hash: string;
  hashes: string[];
  root_hash: string;
}

export interface Checkpoint {
  tree_size: number;
  root_hash: string;
  note: string;
  created_at: string;
}

export interface EventWithProof extends AuditEvent {
  proof: InclusionProof | null;
  checkpoint: Checkpoint | null;
  proof_pending?: string;
}

export interface LogKey {
  origin: string;
  public_key: string;
  key_name: string;
  verifier_key: string;
}

export interface EventPage {
  events: AuditEvent[];
  next_cursor: string | null;
}

export interface User {
  id: string;
  tenant: string;
  username: string;
  role: Role;
  disabled?: boolean;
  created_at?: string;
}

export interface SessionInfo {
  user: User;
  role: Role;
  csrf_token: string;
}

export interface StatsBucket {
  start: string;
  success: number;
  failure: number;
  denied: number;
  unknown: number;
}

export interface Stats {
  buckets: StatsBucket[];
  top_actors: { id: string; count: number }[];
  top_actions: { action: string; count: number }[];
  total: number;
}

export interface AnomalyFeature {
  name: string;
  observed: number;
  expected: number;
  contribution: number;
}

export type AnomalyStatus = 'open' | 'acknowledged' | 'true_positive' | 'false_positive';
export type Verdict = 'acknowledged' | 'true_positive' | 'false_positive';

export interface Feedback {
  verdict: Verdict;
  note: string | null;
  created_at?: string;
  key_id?: string | null;
  suppress_until?: string | null;
  [key: string]: unknown;
}

export interface Anomaly {
  id: string;
  tenant: string;
  subject: { kind: 'actor' | 'tenant'; id: string };
  window_start: string;
  window_end: string;
  reason: string;
  score: number;
  severity: 'low' | 'medium' | 'high' | 'critical';
  detectors: string[];
  features: AnomalyFeature[];
  narrative: string;
  event_ids: string[];
  status: AnomalyStatus;
  feedback: Feedback | null;
  created_at: string;
  feedback_history?: Feedback[];
}

export interface Channel {
  id: string;
  kind: 'slack' | 'discord' | 'teams' | 'webhook' | 'email';
  name: string;
  config: Record<string, unknown>;
  disabled: boolean;
  created_at: string;
}

export interface Rule {
  id: string;
  tenant: string;
  name: string;
  kind: 'anomaly' | 'event';
  min_severity: Severity;
  channels: string[];
  match?: Record<string, unknown>;
  cooldown_seconds?: number;
  enabled: boolean;
  created_at: string;
}

export type DeliveryStatus = 'pending' | 'delivered' | 'dead';

export interface Delivery {
  id: string;
  tenant: string;
  alert_id: string;
  channel_id: string;
  channel_name: string;
  status: DeliveryStatus;
  attempts: number;
  next_attempt_at: string;
  last_error: string | null;
  delivered_at: string | null;
  lease_holder?: string | null;
  lease_until?: string | null;
  created_at: string;
}

export interface DeliveryAttempt {
  delivery_id: string;
  attempt: number;
  holder: string;
  finished_at: string;
  outcome: 'retry' | 'dead' | 'delivered';
  error: string | null;
}

export interface Alert {
  id: string;
  tenant: string;
  rule_id: string | null;
  dedup_key: string;
  message: Record<string, unknown>;
  created_at: string;
  deliveries?: Delivery[];
}

export interface JobRun {
  id: string;
  job: string;
  trigger: string;
  /** `tenant`: a run for the caller's tenant only; `all`: a run over every tenant. */
  scope: 'tenant' | 'all';
  started_at: string;
  finished_at: string;
  outcome: string;
  error: string | null;
  details: { tenant?: unknown };
}

export interface JobStatus {
  name: string;
  schedule: string | null;
  next_run: string | null;
  last_run: JobRun | null;
}

export interface VerifyReport {
  ok: boolean;
  checked: number;
  head_seq: number | null;
  head_hash: string | null;
  first_bad_seq: number | null;
  kind: string | null;
  reason: string | null;
}

export interface SearchInterpretation {
  since: string | null;
  until: string | null;
  actors: string[];
  actions: string[];
  outcome: string | null;
  text: string;
  [key: string]: unknown;
}

export interface SearchResult {
  event: AuditEvent;
  score: number;
  matched: string[];
}

export interface SearchResponse {
  interpretation: SearchInterpretation;
  results: SearchResult[];
  answer: {
    text: string;
    citations: { id: string; seq: number; proof: InclusionProof | null }[];
    generated_by?: string | null;
  };
  mode: string;
  /** How far indexing had got when the search ran: it answers from what is indexed. */
  index: { complete: boolean; events: number; indexed: number; embedded: number | null };
}

export interface ApiKey {
  id: string;
  name: string | null;
  scopes: string[];
  created_at: string;
  revoked_at: string | null;
  expires_at: string | null;
  last_used_at: string | null;
}

export type ReportKind = 'activity' | 'anomalies' | 'integrity' | 'subject';
export type ReportFormat = 'pdf' | 'csv';
export type ReportStatus = 'pending' | 'running' | 'done' | 'failed';
export type ReportPeriod = 'P1D' | 'P7D' | 'P30D';

export interface Report {
  id: string;
  kind: ReportKind;
  format: ReportFormat;
  status: ReportStatus;
  since: string;
  until: string;
  filter: Record<string, unknown>;
  subject?: string;
  requested_by: string;
  schedule_id?: string;
  created_at: string;
  started_at?: string;
  finished_at: string | null;
  pages?: number;
  events?: number;
  sha256?: string;
  checkpoint?: { tree_size: number; root_hash: string };
  error?: string;
  download: string;
  evidence?: string;
}

export interface ReportSchedule {
  id: string;
  tenant: string;
  name: string;
  cron: string;
  report: { kind: ReportKind; format: ReportFormat; period: ReportPeriod; filter: Record<string, unknown>; subject?: string };
  channels: string[];
  next_run_at: string;
  created_at: string;
  updated_at: string;
}

export interface ScheduleRun {
  id: string;
  schedule_id: string;
  trigger: string;
  scheduled_for: string;
  report_id: string | null;
  status: 'running' | 'sent' | 'failed';
  error: string | null;
  deliveries: unknown;
  created_at: string;
  finished_at: string | null;
}
