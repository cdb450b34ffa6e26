#!/usr/bin/env node
// An independent verifier for schemas/CHAIN.md in Node.js, built-in modules only.
//   node schemas/verify_chain.js                       check schemas/chain_vectors.json
//   node schemas/verify_chain.js events.json           verify a JSON array of stored events
//   node schemas/verify_chain.js proof.json --public-key trust.pem   check an `auditflow prove` proof
//        against pinned keys only (repeatable; a trust file holds PEM PUBLIC KEY blocks), following
//        the proof's signed key `rotations` (CHAIN.md section 8); the proof's own public_key is ignored
// canon() is RFC 8785 for values JSON.parse produces: keys sorted by UTF-16 code units (JS's
// default sort), strings and numbers as JSON.stringify writes them (ECMAScript rules, as JCS
// requires). JSON.parse would round an integer beyond +-(2^53 - 1), so parseJSON marks each
// such literal and canon() refuses it (CHAIN.md section 2). Limits: strings must be valid
// Unicode, tree sizes must stay below 2^53. Exit codes: 0 verified, 1 broken, 2 not readable.
'use strict';
const crypto = require('crypto'), fs = require('fs'), path = require('path');
const ZERO = '0'.repeat(64), B0 = Buffer.from([0]), B1 = Buffer.from([1]);
const DEFAULTS = [[['metadata', 'version'], '1.3.0'], [['enrichment', 'geo', 'is_private'], false],
  [['enrichment', 'user', 'privileged'], false], [['enrichment', 'user', 'known'], false]];
const isObj = (v) => v !== null && typeof v === 'object';
const BIG = '\u0000integer beyond 2^53 - 1';
function parseJSON(text) { // strings are matched first, so digits inside them are never numbers
  return JSON.parse(text.replace(/"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g, (tok) =>
    tok[0] !== '"' && /^-?\d+$/.test(tok) && !Number.isSafeInteger(Number(tok)) ? `{${JSON.stringify(BIG)}:"${tok}"}` : tok));
}
function prune(v) {
  if (Array.isArray(v)) return v.map(prune);
  if (!isObj(v)) return v;
  const o = {};
  for (const [k, x] of Object.entries(v)) { const y = prune(x); if (y !== null && !(isObj(y) && Object.keys(y).length === 0)) o[k] = y; }
  return o;
}
function canon(v) {
  if (Array.isArray(v)) return '[' + v.map(canon).join(',') + ']';
  if (isObj(v) && BIG in v) throw new Error(`integer ${v[BIG]} is outside +-(2^53 - 1)`);
  if (isObj(v)) return '{' + Object.keys(v).sort().map((k) => JSON.stringify(k) + ':' + canon(v[k])).join(',') + '}';
  return JSON.stringify(v);
}
function canonical(event) {
  const e = JSON.parse(JSON.stringify(event));
  delete e.chain;
  if (isObj(e.lineage)) { delete e.lineage.flink_job_id; delete e.lineage.lateness_ms; }
  for (const [p, val] of DEFAULTS) {
    let o = e;
    for (const k of p.slice(0, -1)) o = isObj(o) ? o[k] : null;
    if (isObj(o) && o[p[p.length - 1]] == null) o[p[p.length - 1]] = val;
  }
  return canon(prune(e));
}
const sha = (...parts) => crypto.createHash('sha256').update(Buffer.concat(parts)).digest();
const eventHash = (prev, e) => sha(Buffer.from(prev, 'hex'), Buffer.from(canonical(e), 'utf8')).toString('hex');
function misplaced(e) { // CHAIN.md section 1: null when chain_id is tenant_id or tenant_id/raw_topic/raw_partition
  const t = e.tenant_id, l = isObj(e.lineage) ? e.lineage : {}, cid = isObj(e.chain) ? e.chain.chain_id : undefined;
  if (typeof t !== 'string' || t === '') return 'it has no tenant_id';
  const v2 = typeof l.raw_topic === 'string' && l.raw_topic !== '' && Number.isInteger(l.raw_partition)
    ? `${t}/${l.raw_topic}/${l.raw_partition}` : null;
  return cid === t || cid === v2 ? null : `its tenant and raw partition assign ${v2 || t}`;
}
function verify(events) { // null when every chain is intact, else the first break in words
  const last = {};
  for (const [i, e] of events.entries()) {
    const c = e.chain, at = c ? `chain ${c.chain_id} sequence ${c.sequence} (position ${i})` : `position ${i}`;
    if (!c) return `unchained: ${at}`;
    const wrong = misplaced(e);
    if (wrong) return `misplaced: ${at}: ${wrong}`;
    const prev = last[c.chain_id] || { seq: 0, hash: ZERO };
    if (c.sequence !== prev.seq + 1) return `${at}: expected sequence ${prev.seq + 1} (missing, reordered or extra)`;
    let h;
    try { h = eventHash(c.prev_hash, e); } catch (err) { return `modified: ${at}: ${err.message}`; }
    if (h !== c.event_hash) return `modified: ${at}`;
    if (c.prev_hash !== prev.hash) return `wrong_prev_hash: ${at}`;
    last[c.chain_id] = { seq: c.sequence, hash: c.event_hash };
  }
  return null;
}
const leafHash = (hex) => sha(B0, Buffer.from(hex, 'hex'));
function merkleRoot(leaves) {
  let level = leaves.map(leafHash);
  if (level.length === 0) return sha().toString('hex');
  while (level.length > 1) {
    const next = [];
    for (let i = 0; i + 1 < level.length; i += 2) next.push(sha(B1, level[i], level[i + 1]));
    if (level.length % 2) next.push(level[level.length - 1]);
    level = next;
  }
  return level[0].toString('hex');
}
function rootFromProof(leaf, index, size, proof) { // RFC 9162 2.1.3.2
  if (index >= size) return null;
  let fn = index, sn = size - 1, r = leafHash(leaf);
  const half = (x) => Math.floor(x / 2);
  for (const p of proof.map((h) => Buffer.from(h, 'hex'))) {
    if (sn === 0) return null;
    if (fn % 2 === 1 || fn === sn) {
      r = sha(B1, p, r);
      while (fn % 2 === 0 && fn !== 0) { fn = half(fn); sn = half(sn); }
    } else r = sha(B1, r, p);
    fn = half(fn); sn = half(sn);
  }
  return sn === 0 ? r.toString('hex') : null;
}

// pinned keys (CHAIN.md section 8): key id = first 16 hex of SHA-256 of the 32 raw key bytes
const ROTATION = 'auditflow-key-rotation/1';
const keyId = (k) => sha(k.export({ format: 'der', type: 'spki' }).subarray(-32)).toString('hex').slice(0, 16);
function trustFile(f) {
  const blocks = fs.readFileSync(f, 'utf8').match(/-----BEGIN PUBLIC KEY-----[\s\S]*?-----END PUBLIC KEY-----/g) || [];
  if (!blocks.length) throw new Error(`${f} holds no PEM PUBLIC KEY block`);
  return blocks.map((b) => crypto.createPublicKey(b));
}
const unsignedCanon = (o) => Buffer.from(canon(Object.fromEntries(Object.entries(o).filter(([k]) => k !== 'signature'))), 'utf8');
function rotationProblem(r, prevKey, prevId) { // what is wrong with a rotation record, or null
  if (!isObj(r) || r.format !== ROTATION) return `is not an ${ROTATION} object`;
  let k = null;
  try { k = crypto.createPublicKey(r.public_key); } catch (e) { return 'has a public_key that is not an Ed25519 PEM public key'; }
  if (keyId(k) !== r.key_id) return `names key_id ${r.key_id} but its public_key has key id ${keyId(k)}`;
  if (r.previous_key_id !== prevId) return `is signed for previous key ${r.previous_key_id}, not ${prevId}`;
  if (typeof r.signature !== 'string' || !crypto.verify(null, unsignedCanon(r), prevKey, Buffer.from(r.signature, 'base64'))) {
    return `has a signature that does not verify with the previous key ${prevId}`;
  }
  return null;
}
function proofKey(doc, pinned) { // the key the proof's digest must verify with, or throws why not (as trust.py)
  const d = doc.digest, keys = new Map(pinned), retired = new Map();
  let cur = null;
  const take = (r, what) => { // r hands the archive over from the accepted (or a pinned) key
    const prev = r.previous_key_id;
    if (cur !== null && prev !== cur) throw `${what} introduces key ${r.key_id} by a rotation from ${prev}, but the accepted key is ${cur}`;
    if (cur === null && !pinned.has(prev)) throw `${what} introduces key ${r.key_id} by a rotation from ${prev}, which is not pinned`;
    const problem = rotationProblem(r, keys.get(prev), prev);
    if (problem) throw `${what} introduces key ${r.key_id} with a rotation record that ${problem}`;
    retired.set(prev, r.key_id); cur = r.key_id; keys.set(cur, crypto.createPublicKey(r.public_key));
    return keys.get(cur);
  };
  for (const r of doc.rotations || []) { // oldest first; those before the first pinned key are skipped
    if (!isObj(r)) throw 'a proof\'s rotation record is not a JSON object';
    if (cur === null ? !pinned.has(r.previous_key_id) : r.key_id === cur) continue;
    if (cur !== null && r.previous_key_id !== cur) throw `the rotation to ${r.key_id} is signed by ${r.previous_key_id}, but the accepted key is ${cur}`;
    if (r.valid_from > d.period.start) throw `the rotation to ${r.key_id} is valid from ${r.valid_from}, after the proof's period start ${d.period.start}`;
    take(r, `the rotation to ${r.key_id}`);
  }
  const kid = d.key_id, r = d.rotation, what = `digests/${d.period.id}.json`;
  if (typeof kid !== 'string') throw `${what} names no key_id`;
  if (kid === cur) return keys.get(kid);
  if (retired.has(kid)) throw `${what} is signed with key ${kid}, which the rotation to ${retired.get(kid)} retired`;
  if (cur === null && pinned.has(kid)) return pinned.get(kid);
  if (r === undefined || r === null) {
    if (cur === null) throw `${what} is signed with key ${kid}, which is not pinned (pinned: ${[...pinned.keys()].sort().join(', ') || 'none'})`;
    throw `${what} is signed with key ${kid}, but the accepted key is ${cur} and the digest carries no rotation record from it`;
  }
  if (!isObj(r) || r.key_id !== kid) throw `${what} is signed with key ${kid}, but its rotation record introduces key ${isObj(r) ? r.key_id : null}`;
  if (r.valid_from !== d.period.start) throw `${what} introduces key ${kid} with a rotation valid from ${r.valid_from}, not the period start ${d.period.start}`;
  return take(r, what);
}

const HEX = /^[0-9a-f]{64}$/, isHash = (v) => typeof v === 'string' && HEX.test(v);
const isInt = (v, least) => Number.isSafeInteger(v) && v >= least;
function proofShape(p) { // null when every member a check reads is there with its type, else why not
  const d = p.digest, e = p.event, sig = isObj(d) ? d.signature : undefined;
  const rules = [
    [p.format === 'auditflow-proof/1', `format is ${JSON.stringify(p.format)}, expected "auditflow-proof/1"`],
    [['event_id', 'chain_id', 'period'].every((k) => typeof p[k] === 'string'), 'event_id, chain_id and period must be strings'],
    [isInt(p.sequence, 1) && isInt(p.leaf_index, 0) && isInt(p.tree_size, 1), 'sequence, leaf_index and tree_size must be integers'],
    [isHash(p.event_hash) && isHash(p.root), 'event_hash and root must be 64 lower-case hex characters'],
    [Array.isArray(p.proof) && p.proof.every(isHash), 'proof must be a list of 64 lower-case hex characters each'],
    [isObj(e) && !Array.isArray(e), 'event is missing: a proof must carry the event it proves'],
    [isObj(e) && isObj(e.chain) && isHash(e.chain.prev_hash) && isHash(e.chain.event_hash), 'event.chain.prev_hash and event_hash must be 64 lower-case hex characters'],
    [isObj(d) && isObj(d.events) && isInt(d.events.tree_size, 0) && isHash(d.events.merkle_root), 'digest.events must hold an integer tree_size and a 64 hex merkle_root'],
    [isObj(d) && isObj(d.period) && typeof d.period.id === 'string', 'digest.period.id must be a string'],
    [isObj(d) && Array.isArray(d.chains) && d.chains.every((c) => isObj(c) && typeof c.chain_id === 'string' && isInt(c.count, 0) && isInt(c.first_sequence, 0) && isInt(c.last_sequence, 0)), 'digest.chains must be a list of chains with counts and sequences'],
    [typeof sig === 'string' && sig.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(sig) && Buffer.from(sig, 'base64').length === 64, 'digest.signature must be the padded standard base64 of 64 bytes'],
  ];
  const bad = rules.find(([ok]) => !ok);
  return bad ? bad[1] : null;
}
function position(d, cid, seq, index) { // CHAIN.md section 9 (5): the leaf sits where the digest puts cid's leaves
  const key = Buffer.from(cid, 'utf8'), c = d.chains.find((x) => x.chain_id === cid);
  if (!c) return false;
  const offset = d.chains.filter((x) => Buffer.compare(Buffer.from(x.chain_id, 'utf8'), key) < 0).reduce((n, x) => n + x.count, 0);
  const unbroken = c.break == null && c.last_sequence - c.first_sequence + 1 === c.count;
  return index >= offset && index < offset + c.count && (!unbroken || index === offset + seq - c.first_sequence);
}
function malformed(why) { console.log(`MALFORMED: ${why}`); process.exit(2); }


const args = process.argv.slice(2), pins = [], pos = [];
for (let i = 0; i < args.length; i++) (args[i] === '--public-key' ? pins : pos).push(args[i] === '--public-key' ? args[++i] : args[i]);
if (pos.length > 1) pins.push(pos[1]); // the older form: proof.json key.pem
const file = pos[0] || path.join(__dirname, 'chain_vectors.json');
let doc;
try { doc = parseJSON(fs.readFileSync(file, 'utf8')); } catch (err) { malformed(`${file}: ${err.message}`); }
if (Array.isArray(doc)) { const b = verify(doc); console.log(b || `OK: ${doc.length} events`); process.exit(b ? 1 : 0); }
if (!isObj(doc)) malformed(`${file}: not a JSON object`);
if (doc.format !== undefined) { // a proof, CHAIN.md section 9, against pinned keys only
  const why = proofShape(doc);
  if (why) malformed(`${file}: ${why}`);
  if (!pins.length) { console.error('no pinned key: pass --public-key FILE (the proof\'s own public_key is never trusted)'); process.exit(2); }
  const pinned = new Map(pins.flatMap(trustFile).map((k) => [keyId(k), k]));
  const d = doc.digest;
  let key = null, untrusted = null;
  try { key = proofKey(doc, pinned); } catch (err) { untrusted = `untrusted key: ${err}`; }
  const e = doc.event, c = e.chain, size = d.events.tree_size, root = d.events.merkle_root;
  let leaf = null; // recomputed from the event, never taken from the proof
  try { leaf = eventHash(c.prev_hash, e); } catch (err) { leaf = null; }
  const fails = [
    [untrusted === null, untrusted],
    [key === null || crypto.verify(null, unsignedCanon(d), key, Buffer.from(d.signature, 'base64')), 'digest signature'],
    [root === doc.root && size === doc.tree_size && d.period.id === doc.period, 'root and size signed by the digest'],
    [e.event_id === doc.event_id && c.chain_id === doc.chain_id && c.sequence === doc.sequence && c.event_hash === doc.event_hash, 'event_id and chain fields of the event match the proof'],
    [leaf === c.event_hash, 'event content hashes to event_hash'],
    [leaf !== null && rootFromProof(leaf, doc.leaf_index, size, doc.proof) === root, 'audit path to the root'],
    [c.chain_id === doc.chain_id && !misplaced(e), 'chain_id bound to the event\'s tenant and raw partition'],
    [position(d, doc.chain_id, doc.sequence, doc.leaf_index), 'leaf position signed by the digest for its chain and sequence'],
  ].filter(([ok]) => !ok).map(([, what]) => what);
  console.log(fails.length ? `FAIL: ${fails.join(', ')}` : `OK: ${doc.event_id} is leaf ${doc.leaf_index} of ${size} in period ${d.period.id}, digest signed by key ${d.key_id}`);
  process.exit(fails.length ? 1 : 0);
}
let passed = 0, failed = 0;
const check = (ok, what) => { if (ok) passed++; else { failed++; console.log(`FAIL ${what}`); } };
for (const r of doc.events) check(canonical(r.event) === r.canonical, `canonical form of ${r.event.event_id}`);
check(verify(doc.events.map((r) => r.event)) === null, 'the vector chains verify');
for (const c of doc.canonical_cases) {
  let got;
  try { got = canonical(c.event); } catch (err) { got = null; }
  check(c.error ? got === null : got === c.canonical, `canonical case ${c.name}`);
}
for (const t of doc.tampered) {
  const b = verify(t.events);
  check(b !== null && b.startsWith('misplaced') === (t.expect.kind === 'misplaced'), `tampered case ${t.name} is detected (as misplaced exactly when verify_chain says so)`);
}
const m = doc.merkle;
m.rfc6962.roots.forEach((root, n) => check(merkleRoot(m.rfc6962.leaves.slice(0, n)) === root, `RFC 6962 root of size ${n}`));
for (const t of m.rfc6962.inclusion) {
  check(rootFromProof(m.rfc6962.leaves[t.index], t.index, t.size, t.proof) === m.rfc6962.roots[t.size], `RFC 6962 proof ${t.index}/${t.size}`);
}
const ap = m.acme_period;
check(merkleRoot(ap.leaves) === ap.root, 'acme period root');
for (const t of ap.inclusion) check(rootFromProof(ap.leaves[t.index], t.index, t.size, t.proof) === ap.root, `acme proof ${t.index}`);
check(rootFromProof(ap.leaves[0], 1, ap.leaves.length, ap.inclusion[0].proof) !== ap.root, 'a proof for the wrong index fails');
const all = m.all_chains_period, byChain = (a, b) => Buffer.compare(Buffer.from(a.chain_id), Buffer.from(b.chain_id)) || a.sequence - b.sequence;
const ordered = doc.events.map((r) => r.event.chain).sort(byChain);
check(JSON.stringify(ordered.map((c) => c.event_hash)) === JSON.stringify(all.leaves) && merkleRoot(all.leaves) === all.root, 'one period over every chain and shard, in chain order');
console.log(`verify_chain.js: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
