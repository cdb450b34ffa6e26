package main

// Records the sealer quarantined (schemas/CHAIN.md section 8). A signed `quarantined` entry is
// the only thing that lets a chain pass a hole: where it has a `resume`, the events before its
// sequence must reach sequence - 1 and the chain goes on from `resume`; nothing else is skipped.
// This is the rule of auditflow verify (_chains, _bridged), in the same order and words.

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

type quarantineEntry struct {
	key, sha256, kind, tenant, chainID, reason, period string
	seq                                                int64
	hasSeq                                             bool
	resume                                             *state // nil: the entry takes no place in its chain
}

// parseQuarantined reads a digest's entries; a digest sealed before quarantine has none.
func parseQuarantined(d map[string]any, pid string) ([]quarantineEntry, *archiveBreak) {
	x := d["quarantined"]
	if x == nil {
		return nil, nil
	}
	list, ok := x.([]any)
	if !ok {
		return nil, broken("digest mismatch", "digest %s: quarantined is not a list", pid)
	}
	out := make([]quarantineEntry, 0, len(list))
	for i, y := range list {
		q, ok := y.(map[string]any)
		if !ok {
			return nil, broken("digest mismatch", "digest %s: quarantined entry %d is not an object", pid, i+1)
		}
		e := quarantineEntry{period: pid}
		e.key, _ = q["key"].(string)
		e.sha256, _ = q["sha256"].(string)
		e.kind, _ = q["kind"].(string)
		e.tenant, _ = q["tenant"].(string)
		e.chainID, _ = q["chain_id"].(string)
		e.reason, _ = q["reason"].(string)
		e.seq, e.hasSeq = intValue(q["sequence"])
		if q["key"] != nil && !safeKey(e.key) {
			return nil, broken("digest mismatch", "digest %s lists a quarantine key %q outside the archive", pid, e.key)
		}
		if r := q["resume"]; r != nil {
			rm, _ := r.(map[string]any)
			rs, okSeq := intValue(rm["sequence"])
			rh, okHash := rm["event_hash"].(string)
			if !okSeq || !okHash || !e.hasSeq {
				return nil, broken("digest mismatch", "digest %s: quarantined entry %d has a resume without an integer sequence and event_hash, or no sequence", pid, i+1)
			}
			e.resume = &state{rs, rh}
		}
		out = append(out, e)
	}
	return out, nil
}

// bridges are the entries a chain passes: a chain id and a resume (a gap, or an event quarantined in place).
func bridges(qs []quarantineEntry) (map[string][]quarantineEntry, []string) {
	by := map[string][]quarantineEntry{}
	var order []string
	for _, q := range qs {
		if q.chainID == "" || q.resume == nil {
			continue
		}
		if _, seen := by[q.chainID]; !seen {
			order = append(order, q.chainID)
		}
		by[q.chainID] = append(by[q.chainID], q)
	}
	return by, order
}

// checkQuarantineObjects: each listed quarantine object present with the SHA-256 the digest signs.
func checkQuarantineObjects(dir string, qs []quarantineEntry, pid string) *archiveBreak {
	for _, q := range qs {
		if q.key == "" { // a gap has no record
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(q.key)))
		if err != nil {
			return broken("missing", "quarantined record %s is listed in digest %s but absent from the archive", q.key, pid).at(q.tenant, 0)
		}
		if sum := sha256Hex(data); sum != q.sha256 {
			return broken("digest mismatch", "quarantined record %s has SHA-256 %s..., digest %s signs %.16s...", q.key, sum[:16], pid, q.sha256).at(q.tenant, 0)
		}
	}
	return nil
}

func chainOf(e map[string]any) (map[string]any, string, bool) {
	c, _ := e["chain"].(map[string]any)
	cid, ok := c["chain_id"].(string)
	return c, cid, ok
}

// checkEvents verifies the period's events in stored order from the previous heads to end (the
// digest's heads); signed is the digest's chains in their order, which fixes the first break.
func checkEvents(events []map[string]any, heads map[string]state, signed []string, end map[string]state, qs []quarantineEntry, pid string) *archiveBreak {
	isSigned := map[string]bool{}
	for _, cid := range signed {
		isSigned[cid] = true
	}
	by, order := bridges(qs)
	wanted := append([]string(nil), signed...)
	for _, cid := range order {
		if !isSigned[cid] {
			wanted = append(wanted, cid)
		}
	}
	for _, e := range events {
		c, cid, ok := chainOf(e)
		if c == nil || c["chain_id"] == nil {
			continue // unchained: verifyChain names it
		}
		if !ok || !isSigned[cid] {
			return broken("extra", "chain %q has events (e.g. %q) in period %s but its digest signs none", fmt.Sprint(c["chain_id"]), fmt.Sprint(e["event_id"]), pid).at(fmt.Sprint(c["chain_id"]), 0)
		}
	}
	// breaks inside the stored events first (every chain), then where each chain ends
	states := map[string]state{}
	for _, cid := range wanted {
		if h, ok := heads[cid]; ok && by[cid] == nil {
			states[cid] = h
		}
	}
	var plain []map[string]any
	for _, e := range events {
		if _, cid, ok := chainOf(e); !ok || by[cid] == nil {
			plain = append(plain, e)
		}
	}
	if b := verifyChain(plain, states); b != nil {
		return chainBreak(b)
	}
	for _, e := range plain {
		c, cid, _ := chainOf(e)
		if _, ok := end[cid]; ok {
			states[cid] = state{asInt(c["sequence"]), c["event_hash"].(string)}
		}
	}
	var bridged []string
	for _, cid := range wanted {
		if by[cid] != nil {
			bridged = append(bridged, cid)
		}
	}
	sort.Strings(bridged)
	for _, cid := range bridged {
		var evs []map[string]any
		for _, e := range events {
			if _, id, ok := chainOf(e); ok && id == cid {
				evs = append(evs, e)
			}
		}
		var start *state
		if h, ok := heads[cid]; ok {
			start = &h
		}
		b, st := bridgedChain(cid, evs, start, by[cid])
		if b != nil {
			return chainBreak(b)
		}
		if st != nil {
			states[cid] = *st
		}
	}
	for _, cid := range wanted {
		want := end[cid]
		got, has := states[cid]
		switch {
		case got.seq < want.seq:
			return broken("missing", "chain %q ends at sequence %d, expected to end at %d: sequences %d..%d are absent", cid, got.seq, want.seq, got.seq+1, want.seq).at(cid, got.seq+1)
		case got.seq > want.seq:
			return broken("extra", "chain %q runs to sequence %d, expected to end at %d", cid, got.seq, want.seq).at(cid, want.seq+1)
		case has && got.hash != want.hash:
			return broken("modified", "chain %q sequence %d has event_hash %.16s..., expected %.16s...", cid, got.seq, got.hash, want.hash).at(cid, got.seq)
		}
	}
	return nil
}

func chainBreak(b *Break) *archiveBreak {
	return &archiveBreak{kind: b.Kind, msg: b.Message, who: b.ChainID, seq: b.Sequence}
}

// bridgedChain checks one chain's events in the pieces between its signed entries: each piece
// must run up to the entry's sequence - 1, after which the chain stands at the entry's resume.
// The break, or the state after the last event (or resume).
func bridgedChain(cid string, events []map[string]any, start *state, entries []quarantineEntry) (*Break, *state) {
	entries = append([]quarantineEntry(nil), entries...)
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].seq < entries[j].seq })
	from := func(s *state) map[string]state {
		if s == nil {
			return nil
		}
		return map[string]state{cid: *s}
	}
	st, rest := start, events
	for _, q := range entries {
		var piece, after []map[string]any
		for _, e := range rest {
			c, _, _ := chainOf(e)
			// an invalid sequence stays in the piece, where verifyChain reports it unchained
			if s, ok := intValue(c["sequence"]); !ok || s < q.seq {
				piece = append(piece, e)
			} else {
				after = append(after, e)
			}
		}
		rest = after
		if b := verifyChain(piece, from(st)); b != nil {
			return b, nil
		}
		var reached int64
		if len(piece) > 0 {
			c, _, _ := chainOf(piece[len(piece)-1])
			reached = asInt(c["sequence"])
		} else if st != nil {
			reached = st.seq
		}
		if reached != q.seq-1 {
			return &Break{"missing", cid, reached + 1, fmt.Sprintf("missing: chain %q ends at sequence %d before the quarantined sequence %d: sequences %d..%d are absent", cid, reached, q.seq, reached+1, q.seq-1)}, nil
		}
		r := *q.resume
		st = &r
	}
	if b := verifyChain(rest, from(st)); b != nil {
		return b, nil
	}
	if len(rest) > 0 {
		c, _, _ := chainOf(rest[len(rest)-1])
		st = &state{asInt(c["sequence"]), c["event_hash"].(string)}
	}
	return nil, st
}
