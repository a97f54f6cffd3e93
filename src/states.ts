/**
 * The vocabulary of the house, declared once: the database's CHECK constraints, the API's
 * schemas, the metrics' labels and the console's legends all take their values from here.
 * DESIGN.md's "State machines" says which transitions between them are allowed.
 */

/** What a member of staff may do: editors write, operators watch and retry, admins do everything. */
export const ROLES = ['editor', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export const RELEASE_STATUSES = ['draft', 'scheduled', 'sending', 'sent', 'cancelled'] as const;
export type ReleaseStatus = (typeof RELEASE_STATUSES)[number];

/** `bounced` follows `sent` when a delivery status notification or a provider reports the message undeliverable. */
export const DELIVERY_STATES = ['queued', 'sending', 'sent', 'bounced', 'failed', 'skipped', 'cancelled'] as const;
export type DeliveryState = (typeof DELIVERY_STATES)[number];

/** Advance copies go to vetted journalists before the lift, marked as embargoed; the rest at the lift. */
export const PHASES = ['advance', 'lift'] as const;
export type Phase = (typeof PHASES)[number];

/**
 * A delivery's phase: a copy of the release (advance or lift), or a message about a change to a
 * release someone already holds (a notice under embargo, a correction after the lift).
 */
export const DELIVERY_PHASES = ['advance', 'lift', 'notice', 'correction'] as const;
export type DeliveryPhase = (typeof DELIVERY_PHASES)[number];

/** What changed in a release people hold a copy of: see release_changes (migration 010) and src/releases/notices.ts. */
export const CHANGE_KINDS = ['moved', 'lifted', 'withdrawn', 'corrected', 'correction'] as const;
export type ChangeKind = (typeof CHANGE_KINDS)[number];
