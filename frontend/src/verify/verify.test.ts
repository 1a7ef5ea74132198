import { describe, expect, it } from 'vitest';
import type { EventWithProof, LogKey } from '../api/types';
import { canonicalize } from './jcs';
import { bytesToHex, hexToBytes, sha256, utf8, base64ToBytes, bytesToBase64 } from './encoding';
import { canonicalEvent, keyId, leafHash, parseNote, rootFromInclusionProof, verifyEvent, verifyNote } from './verify';
import logKeyJson from './fixtures/log-key.json';
import unicodeJson from './fixtures/event-unicode.json';
import cloudtrailJson from './fixtures/event-cloudtrail.json';
import firstJson from './fixtures/event-first.json';

// Captured from a real Veritrail server (see fixtures/README.md).
const logKey = logKeyJson as LogKey;
const fixtures = {
  unicode: unicodeJson as unknown as EventWithProof,
  cloudtrail: cloudtrailJson as unknown as EventWithProof,
  first: firstJson as unknown as EventWithProof,
};

function clone<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

describe('RFC 8785 canonical JSON', () => {
  it('sorts members by UTF-16 code units and escapes minimally', () => {
    // RFC 8785 §3.2.3: U+FB33 sorts after the surrogate pair of U+1F600 in UTF-16.
    expect(canonicalize({ b: 1, a: [true, null, 'x'], '\ufb33': 4, '\u20ac': 1, '\ud83d\ude00': 2, '\u00e9': 3 })).toBe(
      '{"a":[true,null,"x"],"b":1,"\u00e9":3,"\u20ac":1,"\ud83d\ude00":2,"\ufb33":4}',
    );
    expect(canonicalize('a"b\\c\n\u0001\u007f')).toBe('"a\\"b\\\\c\\n\\u0001\u007f"');
  });

  it('prints numbers as ECMAScript does', () => {
    expect(canonicalize([1.5, 1e21, -1e-6, -0, 100, 1e-7, 0.1 + 0.2])).toBe(
      '[1.5,1e+21,-0.000001,0,100,1e-7,0.30000000000000004]',
    );
  });

  it('reproduces the server canonical form of an event (leaf hash of the proof)', async () => {
    for (const event of Object.values(fixtures)) {
      expect(bytesToHex(await leafHash(event))).toBe(event.proof!.leaf_hash);
    }
  });

  it('holds exactly the hashed members', () => {
    expect(Object.keys(canonicalEvent(fixtures.unicode)).sort()).toEqual(
      ['action', 'actor', 'details', 'id', 'occurred_at', 'outcome', 'received_at', 'resource', 'seq', 'severity', 'tags', 'tenant', 'v'],
    );
  });
});

describe('signed notes', () => {
  it('computes the key id of the verifier key', async () => {
    const id = await keyId(logKey.key_name, base64ToBytes(logKey.public_key));
    expect(logKey.verifier_key.split('+')[1]).toBe(bytesToHex(id));
  });

  it('verifies a real checkpoint', async () => {
    const note = await verifyNote(fixtures.unicode.checkpoint!.note, logKey);
    expect(note.origin).toBe(logKey.origin);
    expect(note.treeSize).toBe(fixtures.unicode.checkpoint!.tree_size);
    expect(bytesToHex(note.rootHash)).toBe(fixtures.unicode.checkpoint!.root_hash);
  });

  it('refuses a changed tree size, root, origin or signature', async () => {
    const note = fixtures.unicode.checkpoint!.note;
    const parsed = parseNote(note);
    const biggerSize = note.replace(`\n${parsed.treeSize}\n`, `\n${parsed.treeSize + 1}\n`);
    await expect(verifyNote(biggerSize, logKey)).rejects.toThrow(/does not verify/);
    const root = new Uint8Array(parsed.rootHash);
    root[0] = root[0]! ^ 1;
    const otherRoot = note.replace(bytesToBase64(parsed.rootHash), bytesToBase64(root));
    await expect(verifyNote(otherRoot, logKey)).rejects.toThrow(/does not verify/);
    await expect(verifyNote(note.replace(logKey.origin, `${logKey.origin}x`), logKey)).rejects.toThrow(/origin/);
    const [body, sigLine] = note.split('\n\n') as [string, string];
    const blob = base64ToBytes(sigLine.trim().split(' ').pop()!);
    blob[20] = blob[20]! ^ 0x40;
    const badSig = `${body}\n\n\u2014 ${logKey.key_name} ${bytesToBase64(blob)}\n`;
    await expect(verifyNote(badSig, logKey)).rejects.toThrow(/does not verify/);
  });

  it('refuses a note signed by another key', async () => {
    const otherKey = { ...logKey, public_key: bytesToBase64(new Uint8Array(32).fill(7)) };
    await expect(verifyNote(fixtures.unicode.checkpoint!.note, otherKey)).rejects.toThrow(/no signature by key/);
  });

  it('refuses malformed notes', () => {
    expect(() => parseNote('origin\n12\nAAAA\n')).toThrow(/blank line/);
    expect(() => parseNote('origin\n012\nAAAA\n\n\u2014 k x\n')).toThrow(/decimal/);
    expect(() => parseNote('origin\n12\nAAAA\n\n\u2014 k x\n')).toThrow(/32 bytes/);
    expect(() => parseNote('origin\n12\nAAAA\n\n- k x\n')).toThrow();
  });
});

describe('RFC 6962 inclusion proofs', () => {
  // Tree of 7 leaves built here by the RFC 6962 definition, every leaf checked.
  async function mth(leaves: Uint8Array[]): Promise<Uint8Array> {
    if (leaves.length === 1) return leaves[0]!;
    let k = 1;
    while (k * 2 < leaves.length) k *= 2;
    return sha256(new Uint8Array([1]), await mth(leaves.slice(0, k)), await mth(leaves.slice(k)));
  }
  async function path(m: number, leaves: Uint8Array[]): Promise<Uint8Array[]> {
    if (leaves.length === 1) return [];
    let k = 1;
    while (k * 2 < leaves.length) k *= 2;
    return m < k
      ? [...(await path(m, leaves.slice(0, k))), await mth(leaves.slice(k))]
      : [...(await path(m - k, leaves.slice(k))), await mth(leaves.slice(0, k))];
  }

  it('accepts every leaf of trees of 1 to 9 leaves', async () => {
    for (let n = 1; n <= 9; n++) {
      const leaves = await Promise.all(Array.from({ length: n }, (_, i) => sha256(new Uint8Array([0]), utf8(`leaf ${i}`))));
      const root = await mth(leaves);
      for (let m = 0; m < n; m++) {
        const computed = await rootFromInclusionProof(m, n, leaves[m]!, await path(m, leaves));
        expect(bytesToHex(computed)).toBe(bytesToHex(root));
      }
    }
  });

  it('accepts the real proofs of the fixtures', async () => {
    for (const event of Object.values(fixtures)) {
      const p = event.proof!;
      const root = await rootFromInclusionProof(p.leaf_index, p.tree_size, hexToBytes(p.leaf_hash), p.hashes.map(hexToBytes));
      expect(bytesToHex(root)).toBe(event.checkpoint!.root_hash);
    }
  });

  it('refuses proofs of the wrong length or index', async () => {
    const p = fixtures.cloudtrail.proof!;
    const leaf = hexToBytes(p.leaf_hash);
    const hashes = p.hashes.map(hexToBytes);
    await expect(rootFromInclusionProof(p.leaf_index, p.tree_size, leaf, hashes.slice(1))).rejects.toThrow(/shorter/);
    await expect(rootFromInclusionProof(p.leaf_index, p.tree_size, leaf, [...hashes, hashes[0]!])).rejects.toThrow(/longer/);
    await expect(rootFromInclusionProof(p.tree_size, p.tree_size, leaf, hashes)).rejects.toThrow(/outside/);
  });
});

describe('verifyEvent', () => {
  it('passes every check for real events', async () => {
    for (const event of Object.values(fixtures)) {
      const verdict = await verifyEvent(event, logKey);
      expect(verdict.steps.map((step) => [step.id, step.ok])).toEqual([
        ['signature', true],
        ['inclusion', true],
        ['leaf', true],
        ['chain', true],
      ]);
      expect(verdict.ok).toBe(true);
    }
  });

  it('fails at the leaf when the event content changed', async () => {
    const event = clone(fixtures.unicode);
    (event.details as Record<string, unknown>).reason = 'nothing to see';
    const verdict = await verifyEvent(event, logKey);
    expect(verdict.ok).toBe(false);
    expect(verdict.failed?.id).toBe('leaf');
  });

  it('fails at the leaf when the seq or tenant changed', async () => {
    const event = clone(fixtures.cloudtrail);
    event.tenant = 'other';
    expect((await verifyEvent(event, logKey)).failed?.id).toBe('leaf');
  });

  it('fails at the inclusion proof when a proof hash changed', async () => {
    const event = clone(fixtures.cloudtrail);
    const first = event.proof!.hashes[0]!;
    event.proof!.hashes[0] = (first[0] === '0' ? '1' : '0') + first.slice(1);
    const verdict = await verifyEvent(event, logKey);
    expect(verdict.failed?.id).toBe('inclusion');
  });

  it('fails at the inclusion proof when the proof is for another leaf', async () => {
    const event = clone(fixtures.cloudtrail);
    event.proof = clone(fixtures.first.proof);
    const verdict = await verifyEvent(event, logKey);
    expect(verdict.failed?.id).toBe('inclusion');
  });

  it('fails at the signature when the note was altered', async () => {
    const event = clone(fixtures.first);
    event.checkpoint!.note = event.checkpoint!.note.replace('\n2920\n', '\n2921\n');
    expect((await verifyEvent(event, logKey)).failed?.id).toBe('signature');
  });

  it('fails at the signature when the checkpoint fields disagree with the note', async () => {
    const event = clone(fixtures.first);
    event.checkpoint!.root_hash = '00'.repeat(32);
    expect((await verifyEvent(event, logKey)).failed?.id).toBe('signature');
  });

  it('fails at the chain link when hash or prev_hash changed', async () => {
    const event = clone(fixtures.unicode);
    event.prev_hash = '00'.repeat(32);
    const verdict = await verifyEvent(event, logKey);
    expect(verdict.failed?.id).toBe('chain');
    expect(verdict.steps.filter((step) => !step.ok).map((step) => step.id)).toEqual(['chain']);
  });

  it('is not verified while no checkpoint covers the event', async () => {
    const event = clone(fixtures.unicode);
    event.proof = null;
    event.checkpoint = null;
    event.proof_pending = 'the event is not yet covered by a published checkpoint; retry after the next one';
    const verdict = await verifyEvent(event, logKey);
    expect(verdict.ok).toBe(false);
    expect(verdict.failed?.detail).toMatch(/not yet covered/);
  });

  it('chains the first event to 32 zero bytes', async () => {
    expect(fixtures.first.seq).toBe(0);
    expect(fixtures.first.prev_hash).toBe('00'.repeat(32));
    expect((await verifyEvent(fixtures.first, logKey)).ok).toBe(true);
  });
});
