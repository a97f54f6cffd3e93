import { z } from 'zod';
import type { Config } from '../config.js';
import type { ReleaseFeedback } from '../db/mail-events.js';
import type { Release } from '../db/schema.js';
import { DELIVERY_STATES, RELEASE_STATUSES, type DeliveryState } from '../states.js';
import { advanceAt as advanceSendAt } from '../releases/jobs.js';
import { describeEmbargo } from '../embargo/time.js';

const iso = (date: Date | null) => date?.toISOString() ?? null;

/** A release as the API shows it to staff, with its embargo in UTC, its own zone and the display zones. */
export function releaseView(
  release: Release,
  listIds: number[],
  counts: Record<DeliveryState, number>,
  config: Config,
  advanceListIds: number[] = [],
  feedback: ReleaseFeedback = { softBounced: 0, complained: 0 },
) {
  return {
    id: release.id,
    slug: release.slug,
    title: release.title,
    summary: release.summary,
    body: release.body_md,
    status: release.status,
    version: release.version,
    listIds,
    contact: { name: release.contact_name, email: release.contact_email, phone: release.contact_phone },
    advance: release.advance_lead_seconds
      ? {
          listIds: advanceListIds,
          leadSeconds: release.advance_lead_seconds,
          /** Null once staff lift the release early: everyone then gets the ordinary copy. */
          at: iso(advanceSendAt(release)),
          /** Set once the first advance copy is out: from then on the text is in journalists' hands. */
          sentAt: iso(release.advance_sent_at),
        }
      : null,
    embargoAt: release.embargo_at.toISOString(),
    embargoTimeZone: release.embargo_time_zone,
    embargo: describeEmbargo(release.embargo_at, release.embargo_time_zone, config.DISPLAY_TIME_ZONES),
    /** When staff lifted it early; the embargo above stays as planned, for the record. */
    liftRequestedAt: iso(release.lift_requested_at),
    sendAt: release.send_at.toISOString(),
    liftedAt: iso(release.lifted_at),
    /** How late the lift ran after the send instant (workers down, a busy queue). */
    liftLagMs: release.lifted_at ? release.lifted_at.getTime() - release.send_at.getTime() : null,
    cancelledAt: iso(release.cancelled_at),
    firstSentAt: iso(release.first_sent_at),
    lastSentAt: iso(release.last_sent_at),
    completedAt: iso(release.completed_at),
    createdBy: release.created_by,
    createdAt: release.created_at.toISOString(),
    updatedAt: release.updated_at.toISOString(),
    counts,
    /** What came back after sending: complaints, and delays that did not (yet) bounce (bounces are counts.bounced). */
    feedback,
  };
}

const isoOrNull = z.string().nullable();
const zonedTime = z.object({
  timeZone: z.string(),
  local: z.string(),
  abbreviation: z.string(),
  offset: z.string(),
  text: z.string(),
});

/** The answer releaseView gives, as the routes' response schemas check it and the OpenAPI document shows it. */
export const releaseViewSchema = z.object({
  id: z.number(),
  slug: z.string().nullable(),
  title: z.string(),
  summary: z.string().nullable(),
  body: z.string().describe('Markdown'),
  status: z.enum(RELEASE_STATUSES),
  version: z.number(),
  listIds: z.array(z.number()),
  contact: z.object({ name: z.string().nullable(), email: z.string().nullable(), phone: z.string().nullable() }),
  advance: z
    .object({ listIds: z.array(z.number()), leadSeconds: z.number(), at: isoOrNull, sentAt: isoOrNull })
    .nullable(),
  embargoAt: z.string(),
  embargoTimeZone: z.string(),
  embargo: z.object({ utc: z.string(), local: zonedTime, phrase: z.string(), displayZones: z.array(zonedTime) }),
  liftRequestedAt: isoOrNull,
  sendAt: z.string(),
  liftedAt: isoOrNull,
  liftLagMs: z.number().nullable(),
  cancelledAt: isoOrNull,
  firstSentAt: isoOrNull,
  lastSentAt: isoOrNull,
  completedAt: isoOrNull,
  createdBy: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
  counts: z.partialRecord(z.enum(DELIVERY_STATES), z.number()),
  feedback: z.object({ softBounced: z.number(), complained: z.number() }),
});
