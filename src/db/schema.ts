import type { ColumnType, Generated, Selectable } from 'kysely';
import type { ChangeKind, DeliveryPhase, DeliveryState, Phase, ReleaseStatus, Role } from '../states.js';

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
type ReadOnly<T> = ColumnType<T, never, never>;

export interface SettingsTable {
  key: string;
  value: unknown;
}

export interface ApiTokensTable {
  id: Generated<number>;
  name: string;
  token_hash: string;
  role: Role;
  created_at: Timestamp;
  last_used_at: NullableTimestamp;
  revoked_at: NullableTimestamp;
  /** The account whose authority created it; disabling that account revokes it. */
  owner_account_id: number | null;
  /** Who created it, as the audit log names them. */
  created_by: Generated<string>;
  expires_at: NullableTimestamp;
  /** The token printed at first start: dead once a console admin exists. */
  bootstrap: Generated<boolean>;
}

export interface AccountsTable {
  id: Generated<number>;
  email: string;
  email_key: ReadOnly<string>;
  password_hash: string;
  role: Role;
  created_at: Timestamp;
  last_login_at: NullableTimestamp;
  disabled_at: NullableTimestamp;
  /** Base32 TOTP secret once confirmed; the pending one while the person enrols. */
  totp_secret: string | null;
  totp_pending_secret: string | null;
  totp_enabled_at: NullableTimestamp;
  /** The time step of the last code accepted: a code works once. */
  totp_last_step: number | null;
  password_changed_at: NullableTimestamp;
}

export interface RecoveryCodesTable {
  account_id: number;
  code_hash: string;
  used_at: NullableTimestamp;
}

export interface PasswordResetsTable {
  token_hash: string;
  account_id: number;
  created_at: Timestamp;
  expires_at: Timestamp;
  used_at: NullableTimestamp;
}

export interface RateCountersTable {
  key: string;
  /** When the key's current window opened (its first hit in it). */
  window_start: Timestamp;
  hits: number;
}

/** A sign-in whose second factor is still owed, or a full session. */
export type SessionStage = 'second-factor' | 'enrol' | 'active';

export interface SessionsTable {
  token_hash: string;
  account_id: number;
  csrf_token: string;
  created_at: Timestamp;
  expires_at: Timestamp;
  stage: Generated<SessionStage>;
}

export interface ListsTable {
  id: Generated<number>;
  name: string;
  slug: string;
  created_at: Timestamp;
  /** Offered for sign-up on the public newsroom. */
  public: Generated<boolean>;
  description: string | null;
}

export interface SubscribersTable {
  id: Generated<number>;
  email: string;
  email_key: ReadOnly<string>;
  name: string | null;
  outlet: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
  time_zone: string | null;
  plain_text: Generated<boolean>;
  paused_until: NullableTimestamp;
  pending_email: string | null;
  terms_version: string | null;
}

export interface SignupsTable {
  id: Generated<number>;
  subscriber_id: number;
  list_ids: number[];
  consent_id: number;
  created_at: Timestamp;
  confirmed_at: NullableTimestamp;
}

export type ConsentKind = 'signup' | 'embargo-terms';

export interface ConsentsTable {
  id: Generated<number>;
  subscriber_id: number;
  kind: ConsentKind;
  email: string;
  version: string;
  text: string;
  list_ids: Generated<number[]>;
  given_at: Timestamp;
  confirmed_at: NullableTimestamp;
}

export type AccessRequestStatus = 'pending' | 'approved' | 'refused';

export interface AccessRequestsTable {
  id: Generated<number>;
  subscriber_id: number;
  outlet: string;
  role: string;
  work_email: string;
  links: string[];
  terms_version: string;
  status: Generated<AccessRequestStatus>;
  note: string | null;
  list_ids: Generated<number[]>;
  decided_by: string | null;
  decided_at: NullableTimestamp;
  created_at: Timestamp;
}

export interface BarsTable {
  id: Generated<number>;
  subscriber_id: number | null;
  domain: string | null;
  reason: string;
  ends_at: NullableTimestamp;
  created_by: string;
  created_at: Timestamp;
  lifted_at: NullableTimestamp;
}

export interface TombstonesTable {
  email_hash: string;
  suppressed: boolean;
  erased_at: Timestamp;
}

/** Active members per list, kept by triggers on list_members (migration 012). */
export interface ListMemberCountsTable {
  list_id: number;
  active: number;
}

export interface ListMembersTable {
  list_id: number;
  subscriber_id: number;
  status: 'active' | 'unsubscribed';
  subscribed_at: Timestamp;
  unsubscribed_at: NullableTimestamp;
}

/** Where a suppression came from: the relay's reply while sending, a report that came back, or staff. */
export type SuppressionSource = 'smtp' | 'dsn' | 'arf' | 'ses' | 'postmark' | 'mailgun' | 'staff' | 'unrecorded';

export interface SuppressionsTable {
  email_key: string;
  reason: string;
  source: SuppressionSource;
  details: ColumnType<Record<string, unknown>, string, string>;
  created_at: Timestamp;
}

export type MailEventKind = 'bounce' | 'soft_bounce' | 'complaint';

export interface MailEventsTable {
  id: Generated<number>;
  kind: MailEventKind;
  email_key: string;
  delivery_id: number | null;
  release_id: number | null;
  list_id: number | null;
  source: SuppressionSource;
  status: string | null;
  diagnostic: string | null;
  dedupe_key: string;
  at: Timestamp;
}

export interface ReleasesTable {
  id: Generated<number>;
  /** The public page's address, made from the title at the lift; null before it (no URL carries the headline). */
  slug: string | null;
  title: string;
  summary: string | null;
  body_md: string;
  status: Generated<ReleaseStatus>;
  version: Generated<number>;
  embargo_at: Timestamp;
  embargo_time_zone: string;
  /** When staff asked to lift before the embargo; the embargo itself is kept for the record. */
  lift_requested_at: NullableTimestamp;
  /** The effective send instant: the embargo, or an earlier requested lift (a generated column). */
  send_at: ReadOnly<Date>;
  cancelled_at: NullableTimestamp;
  lifted_at: NullableTimestamp;
  fanout_done_at: NullableTimestamp;
  first_sent_at: NullableTimestamp;
  last_sent_at: NullableTimestamp;
  completed_at: NullableTimestamp;
  created_by: string;
  created_at: Timestamp;
  updated_at: Timestamp;
  contact_name: string | null;
  contact_email: string | null;
  contact_phone: string | null;
  /** Advance lists receive the release this long before the embargo; moving the embargo moves both. */
  advance_lead_seconds: number | null;
  /** When the first advance copy was accepted by the relay. */
  advance_sent_at: NullableTimestamp;
  /** Counts by delivery state, kept once retention has pruned the release's delivery rows. */
  delivery_counts: ColumnType<Record<DeliveryState, number> | null, string | null | undefined, string | null>;
  deliveries_pruned_at: NullableTimestamp;
}

export interface ReleaseAttachmentsTable {
  id: Generated<number>;
  release_id: number;
  filename: string;
  content_type: string;
  size: number;
  data: Buffer;
  access_key: string;
  created_at: Timestamp;
}

export interface ReleaseListsTable {
  release_id: number;
  list_id: number;
  position: number;
  advance: Generated<boolean>;
}

export interface ReleaseRendersTable {
  release_id: number;
  version: number;
  subject: string;
  html: string;
  text: string;
  reply_to_name: string | null;
  reply_to_address: string | null;
  phase: Generated<Phase>;
  created_at: Timestamp;
}

export interface DeliveriesTable {
  id: Generated<number>;
  release_id: number;
  /** Null once the person was erased: the row stays, anonymous, for the counts. */
  subscriber_id: number | null;
  list_id: number;
  phase: Generated<DeliveryPhase>;
  state: Generated<DeliveryState>;
  /** The change a notice or correction tells of (null for a copy of the release). */
  change_id: number | null;
  /** The delivery whose copy a notice's recipient holds. */
  holder_id: number | null;
  /** When the per-recipient file keys of this copy were revoked (the release was withdrawn). */
  files_revoked_at: NullableTimestamp;
  /** The release version this row was frozen for; only rows of the current version may be claimed. */
  release_version: number;
  not_before: Timestamp;
  attempts: Generated<number>;
  last_error: string | null;
  message_id: string | null;
  lease_until: NullableTimestamp;
  /**
   * The fencing token of the claim holding the row while it is sending (kept on a sent row: the claim that sent it).
   */
  claim_token: string | null;
  sent_at: NullableTimestamp;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface ReleaseChangesTable {
  id: Generated<number>;
  release_id: number;
  kind: ChangeKind;
  version: number;
  actor: string;
  note: string | null;
  previous_embargo_at: NullableTimestamp;
  embargo_at: Timestamp;
  embargo_time_zone: string;
  title: string;
  created_at: Timestamp;
  subject: string | null;
  html: string | null;
  text: string | null;
  reply_to_name: string | null;
  reply_to_address: string | null;
}

export interface FileAccessTable {
  id: Generated<number>;
  release_id: number;
  attachment_id: number;
  delivery_id: number | null;
  subscriber_id: number;
  at: Timestamp;
  ip: string | null;
  user_agent: string | null;
  before_lift: boolean;
}

export interface AuditTable {
  id: Generated<number>;
  release_id: number | null;
  actor: string;
  action: string;
  details: unknown;
  at: Timestamp;
}

export interface ReconcileStateTable {
  id: Generated<boolean>;
  last_success_at: NullableTimestamp;
  last_failure_at: NullableTimestamp;
  last_error: string | null;
  deliveries_without_job: Generated<number>;
  restored_lift_jobs_total: Generated<number>;
  restored_send_jobs_total: Generated<number>;
  last_retention_at: NullableTimestamp;
}

export interface RelayHealthTable {
  id: Generated<boolean>;
  last_accepted_at: NullableTimestamp;
  last_refused_at: NullableTimestamp;
  refusing_since: NullableTimestamp;
  last_reply: string | null;
}

export type AlertState = 'pending' | 'sent' | 'held' | 'failed';

export interface AlertsTable {
  id: Generated<number>;
  key: string;
  kind: string;
  release_id: number | null;
  summary: string;
  details: ColumnType<Record<string, unknown>, string | undefined, string>;
  raised_at: Timestamp;
  state: Generated<AlertState>;
  email_sent_at: NullableTimestamp;
  webhook_sent_at: NullableTimestamp;
  attempts: Generated<number>;
  next_attempt_at: Timestamp;
  sent_at: NullableTimestamp;
  last_error: string | null;
  digested: Generated<boolean>;
}

export const EVENT_TYPES = [
  'release.scheduled',
  'release.lifted',
  'release.sent',
  'release.cancelled',
  'delivery.failed',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export interface WebhookEndpointsTable {
  id: Generated<number>;
  url: string;
  secret: string;
  events: EventType[];
  description: string | null;
  created_by: string;
  created_at: Timestamp;
  disabled_at: NullableTimestamp;
  last_attempt_at: NullableTimestamp;
  last_status: number | null;
  last_response: string | null;
}

export interface EventsTable {
  id: Generated<number>;
  type: EventType;
  release_id: number | null;
  payload: ColumnType<Record<string, unknown>, string, string>;
  created_at: Timestamp;
}

export interface WebhookDeliveriesTable {
  id: Generated<number>;
  event_id: number;
  endpoint_id: number;
  state: Generated<'pending' | 'delivered' | 'failed'>;
  queued_at: NullableTimestamp;
  attempts: Generated<number>;
  last_attempt_at: NullableTimestamp;
  last_status: number | null;
  last_response: string | null;
  delivered_at: NullableTimestamp;
  created_at: Timestamp;
}

export interface Database {
  settings: SettingsTable;
  api_tokens: ApiTokensTable;
  accounts: AccountsTable;
  sessions: SessionsTable;
  recovery_codes: RecoveryCodesTable;
  password_resets: PasswordResetsTable;
  rate_counters: RateCountersTable;
  lists: ListsTable;
  subscribers: SubscribersTable;
  list_members: ListMembersTable;
  list_member_counts: ListMemberCountsTable;
  suppressions: SuppressionsTable;
  mail_events: MailEventsTable;
  releases: ReleasesTable;
  release_lists: ReleaseListsTable;
  release_renders: ReleaseRendersTable;
  release_attachments: ReleaseAttachmentsTable;
  deliveries: DeliveriesTable;
  release_changes: ReleaseChangesTable;
  file_access: FileAccessTable;
  audit: AuditTable;
  reconcile_state: ReconcileStateTable;
  relay_health: RelayHealthTable;
  alerts: AlertsTable;
  webhook_endpoints: WebhookEndpointsTable;
  events: EventsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  signups: SignupsTable;
  consents: ConsentsTable;
  access_requests: AccessRequestsTable;
  bars: BarsTable;
  tombstones: TombstonesTable;
}

export type Release = Selectable<ReleasesTable>;
export type Delivery = Selectable<DeliveriesTable>;
export type ReleaseChange = Selectable<ReleaseChangesTable>;
export type List = Selectable<ListsTable>;
export type Subscriber = Selectable<SubscribersTable>;
