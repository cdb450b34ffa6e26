package main

// Inclusion proofs (schemas/CHAIN.md section 9): the leaf is recomputed from the event the proof
// carries, the tree size and root are the signed digest's, the leaf's position is the one the
// digest gives its chain and sequence, and the digest's key is pinned (or reached through the
// proof's rotation records).

import (
	"encoding/hex"
	"fmt"
	"strings"
)

func isInt(v any, least int64) bool {
	i, ok := intValue(v)
	return ok && i >= least
}

func asInt(v any) int64 {
	i, _ := intValue(v)
	return i
}

// proofShape returns "" when every member the checks read is there with its type, else why not.
func proofShape(p map[string]any) string {
	ev, _ := p["event"].(map[string]any)
	d, _ := p["digest"].(map[string]any)
	rules := []struct {
		ok  func() bool
		why string
	}{
		{func() bool { return p["format"] == "auditflow-proof/1" }, fmt.Sprintf("format is %v, expected \"auditflow-proof/1\"", p["format"])},
		{func() bool {
			for _, k := range []string{"event_id", "chain_id", "period"} {
				if _, ok := p[k].(string); !ok {
					return false
				}
			}
			return true
		}, "event_id, chain_id and period must be strings"},
		{func() bool { return isInt(p["sequence"], 1) && isInt(p["leaf_index"], 0) && isInt(p["tree_size"], 1) }, "sequence, leaf_index and tree_size must be integers"},
		{func() bool { return isHash(p["event_hash"]) && isHash(p["root"]) }, "event_hash and root must be 64 lower-case hex characters"},
		{func() bool {
			l, ok := p["proof"].([]any)
			for _, h := range l {
				ok = ok && isHash(h)
			}
			return ok
		}, "proof must be a list of 64 lower-case hex characters each"},
		{func() bool { return ev != nil }, "event is missing: a proof must carry the event it proves"},
		{func() bool {
			c, ok := ev["chain"].(map[string]any)
			return ok && isHash(c["prev_hash"]) && isHash(c["event_hash"])
		}, "event.chain.prev_hash and event_hash must be 64 lower-case hex characters"},
		{func() bool {
			m, ok := d["events"].(map[string]any)
			return ok && isInt(m["tree_size"], 0) && isHash(m["merkle_root"])
		}, "digest.events must hold an integer tree_size and a 64 hex merkle_root"},
		{func() bool {
			per, ok := d["period"].(map[string]any)
			_, isStr := per["id"].(string)
			return ok && isStr
		}, "digest.period.id must be a string"},
		{func() bool {
			l, ok := d["chains"].([]any)
			for _, x := range l {
				c, isObj := x.(map[string]any)
				_, isStr := c["chain_id"].(string)
				ok = ok && isObj && isStr && isInt(c["count"], 0) && isInt(c["first_sequence"], 0) && isInt(c["last_sequence"], 0)
			}
			return ok
		}, "digest.chains must be a list of chains with counts and sequences"},
		{func() bool { _, ok := decodeSignature(d["signature"]); return ok }, "digest.signature must be the padded standard base64 of 64 bytes"},
		{func() bool {
			r, ok := p["rotations"]
			if !ok {
				return true
			}
			l, ok := r.([]any)
			for _, x := range l {
				_, isObj := x.(map[string]any)
				ok = ok && isObj
			}
			return ok
		}, "rotations must be a list of rotation records"},
	}
	for _, r := range rules {
		if !r.ok() {
			return r.why
		}
	}
	return ""
}

// position reports whether leaf index is where the digest puts chain cid's sequence seq.
func position(d map[string]any, cid string, seq, index int64) (bool, bool) {
	var offset int64
	var entry map[string]any
	for _, x := range d["chains"].([]any) {
		c := x.(map[string]any)
		id := c["chain_id"].(string)
		if strings.Compare(id, cid) < 0 { // bytewise: UTF-8 order
			offset += asInt(c["count"])
		} else if id == cid {
			entry = c
		}
	}
	if entry == nil {
		return false, false
	}
	count, first := asInt(entry["count"]), asInt(entry["first_sequence"])
	unbroken := entry["break"] == nil && asInt(entry["last_sequence"])-first+1 == count
	ok := offset <= index && index < offset+count && (!unbroken || index == offset+seq-first)
	return ok, true
}

// verifyProof returns the problems in words (none: it verifies), or a malformed-proof reason.
func verifyProof(p map[string]any, pinned *keyChain) ([]string, string) {
	if why := proofShape(p); why != "" {
		return nil, why
	}
	var problems []string
	d := p["digest"].(map[string]any)
	period := d["period"].(map[string]any)
	rots, _ := p["rotations"].([]any)
	var keyErr error
	for _, x := range rots { // oldest first; those before a pinned key are not followed
		r := x.(map[string]any)
		prev, _ := r["previous_key_id"].(string)
		if !pinned.start(prev) {
			continue
		}
		if r["key_id"] == pinned.accepted {
			continue
		}
		if from, _ := r["valid_from"].(string); from > fmt.Sprint(period["start"]) {
			keyErr = fmt.Errorf("untrusted key %v: its rotation is valid from %s, after this digest's period", r["key_id"], from)
			break
		}
		id, _ := r["key_id"].(string)
		if keyErr = pinned.rotate(r, id, ""); keyErr != nil {
			break
		}
	}
	if keyErr == nil {
		var k []byte
		if k, keyErr = pinned.keyFor(d); keyErr == nil && !checkSignature(d, k) {
			problems = append(problems, fmt.Sprintf("bad signature: the digest of period %v does not verify with key %s", period["id"], pinned.accepted))
		}
	}
	if keyErr != nil {
		problems = append(problems, "bad signature: "+keyErr.Error())
	}
	m := d["events"].(map[string]any)
	size, root := asInt(m["tree_size"]), m["merkle_root"].(string)
	if p["root"] != root || asInt(p["tree_size"]) != size || p["period"] != period["id"] {
		problems = append(problems, "digest mismatch: the proof's root, tree size or period is not the one the digest signs")
	}
	ev := p["event"].(map[string]any)
	c := ev["chain"].(map[string]any)
	cs, csOK := intValue(c["sequence"])
	if ev["event_id"] != p["event_id"] || c["chain_id"] != p["chain_id"] || !csOK || cs != asInt(p["sequence"]) || c["event_hash"] != p["event_hash"] {
		problems = append(problems, "the event's event_id or chain fields differ from the proof's")
	}
	leaf, err := eventHash(c["prev_hash"], ev)
	if err != nil {
		return nil, "the event cannot be canonicalized: " + err.Error()
	}
	if leaf != c["event_hash"] {
		problems = append(problems, fmt.Sprintf("modified: the event's content hashes to %s..., not to its event_hash %.16v...", leaf[:16], c["event_hash"]))
	}
	var path []string
	for _, h := range p["proof"].([]any) {
		path = append(path, h.(string))
	}
	lb, _ := hex.DecodeString(leaf)
	if got, err := rootFromInclusion(lb, asInt(p["leaf_index"]), size, path); err != nil || got != root {
		problems = append(problems, fmt.Sprintf("the audit path does not lead from the event's hash %s... at leaf %d to the root %s... the digest signs", leaf[:16], asInt(p["leaf_index"]), root[:16]))
	}
	if why := misplaced(ev); why != "" {
		problems = append(problems, fmt.Sprintf("misplaced: the event claims chain %q, but %s", c["chain_id"], why))
	}
	cid := p["chain_id"].(string)
	if ok, listed := position(d, cid, asInt(p["sequence"]), asInt(p["leaf_index"])); !listed {
		problems = append(problems, fmt.Sprintf("the digest lists no chain %q", cid))
	} else if !ok {
		problems = append(problems, fmt.Sprintf("position: leaf %d is not where the digest puts chain %q sequence %d", asInt(p["leaf_index"]), cid, asInt(p["sequence"])))
	}
	return problems, ""
}
