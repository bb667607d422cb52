/**
 * The playbook schema. Every key is a `ferry run` flag without its dashes (`pause-timeout: 5000`
 * is `--pause-timeout 5000`), so a playbook reads like a saved command line and goes through the
 * same spec builder as the flags.
 */
import { z } from 'zod';
import { parseBacklogPolicy } from '../core/backlog.js';

/** Accepts a number, or a string of digits (what `${ENV}` interpolation yields). */
const millis = z.preprocess(
  (v) => (typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : v),
  z.number({ error: 'must be a whole number of milliseconds' }).int().positive(),
);

/** Accepts true/false, or the strings "true"/"false" (from `${ENV}`). */
const flag = z.preprocess(
  (v) => (v === 'true' ? true : v === 'false' ? false : v),
  z.boolean({ error: 'must be true or false' }),
);

const text = z.string({ error: 'must be a string' }).min(1, 'must not be empty');

const repoint = z
  .string({ error: "must be exec:'COMMAND', manual or none" })
  .refine((s) => s === 'manual' || s === 'none' || /^exec:\S/.test(s), {
    message: "must be exec:'COMMAND', manual or none",
  });

/** `auto`, `keep`, a size such as `64mb`, or a number of bytes. */
const backlog = z
  .union([z.string(), z.number().int().positive()], { error: 'must be auto, keep or a size such as 64mb' })
  .refine((v) => parseBacklogPolicy(String(v)) !== null, { message: 'must be auto, keep or a size such as 64mb' });

/** The document as written (after interpolation), keyed like the flags. */
export const playbookSchema = z.strictObject({
  version: z.literal(1, { error: 'must be 1 (the only playbook version this ferry reads)' }),
  description: z.string().optional(),
  from: text,
  to: text,
  sync: z.enum(['engine', 'native'], { error: 'must be engine or native' }).optional(),
  repoint: repoint.optional(),
  'hook-timeout': millis.optional(),
  retire: z.enum(['replica', 'keep', 'shutdown'], { error: 'must be replica, keep or shutdown' }).optional(),
  'pause-timeout': millis.optional(),
  'drain-timeout': millis.optional(),
  'data-dir': text.optional(),
  'server-arg': z.union([text, z.array(text)], { error: 'must be a string or a list of strings' }).optional(),
  'flush-target': flag.optional(),
  verify: z.enum(['off', 'sample', 'full'], { error: 'must be off, sample or full' }).optional(),
  'verify-sample': z.number({ error: 'must be a whole number' }).int('must be a whole number').min(1, 'must be at least 1').optional(),
  backlog: backlog.optional(),
  'tls-ca': text.optional(),
  'tls-cert': text.optional(),
  'tls-key': text.optional(),
  'tls-insecure': flag.optional(),
  state: text.optional(),
});

export type PlaybookDocument = z.infer<typeof playbookSchema>;

/** The playbook's keys, for "did you mean" hints. */
export const PLAYBOOK_KEYS = Object.keys(playbookSchema.shape);
