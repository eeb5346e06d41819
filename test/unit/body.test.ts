import { describe, expect, it } from 'vitest';
import { webhookBody } from '../../src/delivery/body.ts';
import type { EventRecord, EventType } from '../../src/events/events.ts';
import { eventView } from '../../src/events/view.ts';

const AT = Date.UTC(2026, 10, 22, 2, 0, 0, 123);
const IMAGE = '/9j/4AAQSkZJRgABAQ';
const FACE_FIELDS = { num: '1001', name: 'Zhang San', verifiedCode: 0, time: '2026-11-22 09:59:58', personType: '1' };

const row = (type: EventType, fields: unknown): EventRecord => ({
  seq: 1,
  id: 'evt_abc',
  type,
  deviceSn: '123456789',
  receivedAt: AT,
  fields: JSON.stringify(fields),
  hasImage: false,
});

describe('webhookBody', () => {
  it('is byte for byte the JSON of the view, with the image spliced in where the view has it', () => {
    const r = row('face.verified', FACE_FIELDS);
    expect(webhookBody(r, Buffer.from(IMAGE)).toString()).toBe(JSON.stringify(eventView(r, IMAGE)));
    expect(webhookBody(r).toString()).toBe(JSON.stringify(eventView(r)));
  });

  it('puts the image in its own field even when the terminal sent the placeholder text or that field as text', () => {
    const tricky = { ...FACE_FIELDS, name: 'facegate-image-slot', personType: '"img":"facegate-image-slot"' };
    const r = row('face.verified', tricky);
    const body = JSON.parse(webhookBody(r, Buffer.from(IMAGE)).toString());
    expect(body).toMatchObject({ img: IMAGE, name: 'facegate-image-slot', personType: '"img":"facegate-image-slot"' });
  });

  it('leaves events without an image as their view', () => {
    const r = row('device.online', { last_seen_at: '2026-11-22T01:59:00.000Z' });
    expect(webhookBody(r).toString()).toBe(JSON.stringify(eventView(r)));
  });
});
