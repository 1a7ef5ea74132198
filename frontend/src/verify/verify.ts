// The "Verified" badge: everything a browser can check about one event without
// trusting the server that sent it.
//
// 1. The checkpoint is a C2SP signed note (backend/core/src/checkpoint.rs):
//      <origin>\n<tree size>\n<base64 root>\n\n— <key name> <base64(key id || Ed25519 signature)>\n
//    signed over the body (three lines with their newlines); key id =
//    SHA-256(key name || "\n" || 0x01 || public key)[0..4].
// 2. The RFC 6962 inclusion proof leads from the leaf hash to the note's root
//    (RFC 9162 §2.1.3.2).
// 3. The leaf hash is recomputed from the event: SHA-256(0x00 || JCS(canonical event))
//    (backend/core/src/chain.rs), and the chain link hash = SHA-256(prev_hash || leaf).

import type { AuditEvent, EventWithProof, InclusionProof, LogKey } from '../api/types';
import { canonicalize } from './jcs';
import { base64ToBytes, bytesToHex, equalBytes, hexToBytes, sha256, utf8 } from './encoding';

export const FORMAT_VERSION = 1;
const ALGORITHM_ED25519 = 0x01;
const SIGNATURE_PREFIX = '\u2014 ';

/** The object whose canonical form every event hash covers (format version 1). */
export function canonicalEvent(event: AuditEvent): Record<string, unknown> {
  return {
    v: FORMAT_VERSION,
    tenant: event.tenant,
    seq: event.seq,
    id: event.id,
    occurred_at: event.occurred_at,
    received_at: event.received_at,
    actor: {
      id: event.actor.id,
      type: event.actor.type,
      name: event.actor.name ?? null,
      ip: event.actor.ip ?? null,
      user_agent: event.actor.user_agent ?? null,
    },
    action: event.action,
    resource: event.resource
      ? { type: event.resource.type, id: event.resource.id, name: event.resource.name ?? null }
      : null,
    outcome: event.outcome,
    severity: event.severity,
    details: event.details,
    tags: event.tags,
  };
}

export async function leafHash(event: AuditEvent): Promise<Uint8Array> {
  return sha256(new Uint8Array([0]), utf8(canonicalize(canonicalEvent(event))));
}

export async function chainHash(prevHash: Uint8Array, leaf: Uint8Array): Promise<Uint8Array> {
  return sha256(prevHash, leaf);
}

export interface ParsedNote {
  body: string;
  origin: string;
  treeSize: number;
  rootHash: Uint8Array;
  signatures: { name: string; blob: string }[];
}

/** Splits and parses a checkpoint note; throws naming what is malformed. */
export function parseNote(note: string): ParsedNote {
  const split = note.indexOf('\n\n');
  if (split < 0) throw new Error('no blank line before the signatures');
  const body = note.slice(0, split + 1);
  const signatureBlock = note.slice(split + 2);
  if (!signatureBlock || !signatureBlock.endsWith('\n')) throw new Error('the signature block must end with a newline');
  const lines = body.slice(0, -1).split('\n');
  const [origin, sizeLine, rootLine] = lines;
  if (!origin) throw new Error('missing origin');
  if (!sizeLine || !/^(0|[1-9][0-9]*)$/.test(sizeLine)) throw new Error('the tree size is not a decimal number');
  if (rootLine === undefined) throw new Error('missing root hash');
  let rootHash: Uint8Array;
  try {
    rootHash = base64ToBytes(rootLine);
  } catch {
    throw new Error('the root hash is not base64');
  }
  if (rootHash.length !== 32) throw new Error('the root hash is not 32 bytes');
  const signatures = signatureBlock
    .slice(0, -1)
    .split('\n')
    .map((line) => {
      if (!line.startsWith(SIGNATURE_PREFIX)) throw new Error('a signature line does not start with an em dash');
      const rest = line.slice(SIGNATURE_PREFIX.length);
      const space = rest.indexOf(' ');
      if (space < 0) throw new Error('a signature line has no signature');
      return { name: rest.slice(0, space), blob: rest.slice(space + 1) };
    });
  const treeSize = Number(sizeLine);
  if (!Number.isSafeInteger(treeSize)) throw new Error('the tree size is too large');
  return { body, origin, treeSize, rootHash, signatures };
}

export async function keyId(name: string, publicKey: Uint8Array): Promise<Uint8Array> {
  const digest = await sha256(utf8(name), utf8('\n'), new Uint8Array([ALGORITHM_ED25519]), publicKey);
  return digest.slice(0, 4);
}

/** Verifies an Ed25519 signature with WebCrypto, falling back to @noble/ed25519. */
export async function ed25519Verify(publicKey: Uint8Array, signature: Uint8Array, message: Uint8Array): Promise<boolean> {
  let key: CryptoKey | null = null;
  try {
    key = await crypto.subtle.importKey('raw', publicKey as BufferSource, { name: 'Ed25519' }, false, ['verify']);
  } catch {
    key = null;
  }
  if (key) {
    return crypto.subtle.verify({ name: 'Ed25519' }, key, signature as BufferSource, message as BufferSource);
  }
  const noble = await import('@noble/ed25519');
  return noble.verifyAsync(signature, message, publicKey);
}

/** Checks a signed note against the log key; returns what it commits to. */
export async function verifyNote(note: string, logKey: LogKey): Promise<ParsedNote> {
  const parsed = parseNote(note);
  if (parsed.origin !== logKey.origin) {
    throw new Error(`the note names origin ${JSON.stringify(parsed.origin)}, the log is ${JSON.stringify(logKey.origin)}`);
  }
  const publicKey = base64ToBytes(logKey.public_key);
  if (publicKey.length !== 32) throw new Error('the log public key is not 32 bytes');
  const id = await keyId(logKey.key_name, publicKey);
  for (const signature of parsed.signatures) {
    if (signature.name !== logKey.key_name) continue;
    let blob: Uint8Array;
    try {
      blob = base64ToBytes(signature.blob);
    } catch {
      throw new Error(`the signature by ${logKey.key_name} is not base64`);
    }
    if (blob.length !== 4 + 64 || !equalBytes(blob.slice(0, 4), id)) continue;
    const ok = await ed25519Verify(publicKey, blob.slice(4), utf8(parsed.body));
    if (!ok) throw new Error(`the signature by ${logKey.key_name} does not verify: the note was altered or signed by another key`);
    return parsed;
  }
  throw new Error(`the note carries no signature by key ${logKey.key_name}`);
}

/** RFC 9162 §2.1.3.2: the root an inclusion proof leads to, or an error. */
export async function rootFromInclusionProof(
  leafIndex: number,
  treeSize: number,
  leaf: Uint8Array,
  proof: Uint8Array[],
): Promise<Uint8Array> {
  if (!Number.isSafeInteger(leafIndex) || !Number.isSafeInteger(treeSize) || leafIndex < 0 || leafIndex >= treeSize) {
    throw new Error(`leaf index ${leafIndex} is outside a tree of ${treeSize}`);
  }
  // Indices can exceed 2^31, so use BigInt for the bit arithmetic.
  let fn = BigInt(leafIndex);
  let sn = BigInt(treeSize - 1);
  let r = leaf;
  const one = new Uint8Array([1]);
  for (const p of proof) {
    if (p.length !== 32) throw new Error('a proof hash is not 32 bytes');
    if (sn === 0n) throw new Error('the proof is longer than the tree is deep');
    if ((fn & 1n) === 1n || fn === sn) {
      r = await sha256(one, p, r);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      r = await sha256(one, r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new Error('the proof is shorter than the tree is deep');
  return r;
}

export type StepId = 'signature' | 'inclusion' | 'leaf' | 'chain';

export interface Step {
  id: StepId;
  label: string;
  ok: boolean;
  detail: string;
}

export interface Verdict {
  ok: boolean;
  steps: Step[];
  /** The first failing step, when not ok. */
  failed: Step | null;
}

const LABELS: Record<StepId, string> = {
  signature: 'Checkpoint signed by the log key',
  inclusion: 'Inclusion proof leads to the signed root',
  leaf: 'Leaf hash recomputed from the event',
  chain: 'Chain link hash = SHA-256(prev_hash ‖ leaf)',
};

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Runs every check; the verdict is ok only when all of them pass. */
export async function verifyEvent(event: EventWithProof, logKey: LogKey): Promise<Verdict> {
  const steps: Step[] = [];
  const add = (id: StepId, ok: boolean, detail: string) => steps.push({ id, label: LABELS[id], ok, detail });
  const proof: InclusionProof | null = event.proof;
  const checkpoint = event.checkpoint;

  // 1. The signed note.
  let note: ParsedNote | null = null;
  if (!proof || !checkpoint) {
    add('signature', false, event.proof_pending ?? 'no checkpoint covers this event yet');
  } else {
    try {
      note = await verifyNote(checkpoint.note, logKey);
      if (note.treeSize !== checkpoint.tree_size || bytesToHex(note.rootHash) !== checkpoint.root_hash.toLowerCase()) {
        throw new Error('the checkpoint fields differ from its signed note');
      }
      add('signature', true, `${note.origin}, tree size ${note.treeSize}, signed by ${logKey.key_name}`);
    } catch (error) {
      note = null;
      add('signature', false, message(error));
    }
  }

  // 2. The inclusion proof against the signed root.
  if (proof && note) {
    try {
      if (proof.leaf_index !== event.seq) throw new Error(`the proof is for leaf ${proof.leaf_index}, the event is seq ${event.seq}`);
      if (proof.tree_size !== note.treeSize) throw new Error(`the proof is for tree size ${proof.tree_size}, the note signs ${note.treeSize}`);
      const root = await rootFromInclusionProof(
        proof.leaf_index,
        proof.tree_size,
        hexToBytes(proof.leaf_hash),
        proof.hashes.map(hexToBytes),
      );
      if (!equalBytes(root, note.rootHash)) throw new Error('the proof leads to another root than the signed one');
      add('inclusion', true, `leaf ${proof.leaf_index} of ${proof.tree_size}, ${proof.hashes.length} hashes`);
    } catch (error) {
      add('inclusion', false, message(error));
    }
  } else {
    add('inclusion', false, 'not checked: no signed checkpoint to check against');
  }

  // 3. The leaf recomputed from the event, and its chain link.
  let leaf: Uint8Array | null = null;
  try {
    leaf = await leafHash(event);
    if (proof && bytesToHex(leaf) !== proof.leaf_hash.toLowerCase()) {
      throw new Error('the event content does not hash to the proven leaf: the event was altered');
    }
    add('leaf', Boolean(proof), proof ? `SHA-256(0x00 ‖ JCS(event)) = ${bytesToHex(leaf).slice(0, 16)}…` : 'no proven leaf to compare with');
  } catch (error) {
    leaf = null;
    add('leaf', false, message(error));
  }
  try {
    if (!leaf) throw new Error('not checked: no leaf hash');
    const link = await chainHash(hexToBytes(event.prev_hash), leaf);
    if (bytesToHex(link) !== event.hash.toLowerCase()) throw new Error('hash ≠ SHA-256(prev_hash ‖ leaf)');
    add('chain', true, `links to prev_hash ${event.prev_hash.slice(0, 16)}…`);
  } catch (error) {
    add('chain', false, message(error));
  }

  const failed = steps.find((step) => !step.ok) ?? null;
  return { ok: failed === null, steps, failed };
}
