package main

// The event hash and chain checks of schemas/CHAIN.md sections 1-4.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
)

const genesis = "0000000000000000000000000000000000000000000000000000000000000000"

var defaults = []struct {
	path  []string
	value any
}{
	{[]string{"metadata", "version"}, "1.3.0"},
	{[]string{"enrichment", "geo", "is_private"}, false},
	{[]string{"enrichment", "user", "privileged"}, false},
	{[]string{"enrichment", "user", "known"}, false},
}

func isHash(v any) bool {
	s, ok := v.(string)
	if !ok || len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// copyJSON deep-copies a decoded JSON value, so that the canonical steps never touch the input.
func copyJSON(v any) any {
	switch x := v.(type) {
	case map[string]any:
		o := make(map[string]any, len(x))
		for k, y := range x {
			o[k] = copyJSON(y)
		}
		return o
	case []any:
		o := make([]any, len(x))
		for i, y := range x {
			o[i] = copyJSON(y)
		}
		return o
	}
	return v
}

// prune drops, children first, every object member that is null, {} or [] (step 4); array
// items are kept in place whatever they become.
func prune(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, y := range x {
			y = prune(y)
			if empty(y) {
				delete(x, k)
			} else {
				x[k] = y
			}
		}
		return x
	case []any:
		for i, y := range x {
			x[i] = prune(y)
		}
		return x
	}
	return v
}

func empty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	}
	return false
}

// canonicalEvent applies CHAIN.md section 2, steps 1-5.
func canonicalEvent(event map[string]any) ([]byte, error) {
	e := copyJSON(event).(map[string]any)
	delete(e, "chain")
	if l, ok := e["lineage"].(map[string]any); ok {
		delete(l, "flink_job_id")
		delete(l, "lateness_ms")
	}
	for _, d := range defaults {
		parent, ok := e, true
		for _, p := range d.path[:len(d.path)-1] {
			if parent, ok = parent[p].(map[string]any); !ok {
				break
			}
		}
		if ok && parent[d.path[len(d.path)-1]] == nil {
			parent[d.path[len(d.path)-1]] = d.value
		}
	}
	return canonicalJSON(prune(e))
}

// eventHash is hex(SHA-256(bytes(prev_hash) || canonical(event))) (section 3).
func eventHash(prev any, event map[string]any) (string, error) {
	if !isHash(prev) {
		return "", fmt.Errorf("prev_hash must be 64 lowercase hex characters, got %v", prev)
	}
	c, err := canonicalEvent(event)
	if err != nil {
		return "", err
	}
	p, _ := hex.DecodeString(prev.(string))
	sum := sha256.Sum256(append(p, c...))
	return hex.EncodeToString(sum[:]), nil
}

// misplaced is "" when the event's chain_id obeys the binding rule of section 1, else why not.
func misplaced(e map[string]any) string {
	tenant, _ := e["tenant_id"].(string)
	var cid any
	if c, ok := e["chain"].(map[string]any); ok {
		cid = c["chain_id"]
	}
	if tenant == "" {
		return "it has no tenant_id, so no chain"
	}
	v2 := ""
	if l, ok := e["lineage"].(map[string]any); ok {
		topic, _ := l["raw_topic"].(string)
		if n, ok := l["raw_partition"].(json.Number); ok && topic != "" && isIntLiteral(n) {
			v2 = tenant + "/" + topic + "/" + canonicalInt(n)
		}
	}
	if cid == tenant || (v2 != "" && cid == v2) {
		return ""
	}
	if v2 != "" {
		return fmt.Sprintf("its tenant_id and raw partition assign chain %q or the version-1 chain %q", v2, tenant)
	}
	return fmt.Sprintf("its tenant_id assigns chain %q", tenant)
}

func canonicalInt(n json.Number) string {
	s, err := formatNumber(n)
	if err != nil {
		return string(n)
	}
	return s
}

// Break is the first point where a chain fails (section 4): the kind and the sequence it reports.
type Break struct {
	Kind     string
	ChainID  string
	Sequence int64 // 0: none
	Message  string
}

type state struct {
	seq  int64
	hash string
}

// verifyChain checks events in stored order (section 4), several chains interleaved, each from
// sequence 1 and genesis unless start gives its state before; nil when every chain is intact.
func verifyChain(events []map[string]any, start map[string]state) *Break {
	last := map[string]state{}
	for k, v := range start {
		last[k] = v
	}
	seen := map[string]map[int64]string{}
	for i, e := range events {
		c, ok := e["chain"].(map[string]any)
		full := ok
		for _, f := range []string{"chain_id", "sequence", "prev_hash", "event_hash"} {
			if ok {
				if _, has := c[f]; !has {
					full = false
				}
			}
		}
		if !full {
			return &Break{"unchained", "", 0, fmt.Sprintf("unchained: event %v at position %d has no complete chain field", e["event_id"], i)}
		}
		cid, _ := c["chain_id"].(string)
		seq, ok := intValue(c["sequence"])
		if !ok || seq < 1 {
			return &Break{"unchained", cid, 0, fmt.Sprintf("unchained: event %v in chain %q has invalid sequence %v", e["event_id"], cid, c["sequence"])}
		}
		where := fmt.Sprintf("chain %q sequence %d (event_id %v, position %d)", cid, seq, e["event_id"], i)
		if why := misplaced(e); why != "" {
			return &Break{"misplaced", cid, seq, "misplaced: " + where + " is in the wrong chain: " + why}
		}
		prev, had := last[cid]
		expected := prev.seq + 1
		hash, _ := c["event_hash"].(string)
		if seq < expected {
			prior, dup := seen[cid][seq]
			switch {
			case dup && prior == hash:
				return &Break{"duplicate", cid, seq, "duplicate: " + where + " appears a second time"}
			case dup:
				return &Break{"extra", cid, seq, "extra: " + where + " is a second, different event with a sequence number already taken"}
			}
			return &Break{"reordered", cid, seq, fmt.Sprintf("reordered: %s comes after sequence %d", where, expected-1)}
		}
		if seq > expected {
			for _, later := range events[i+1:] {
				lc, _ := later["chain"].(map[string]any)
				if lc == nil || lc["chain_id"] != cid {
					continue
				}
				if s, ok := intValue(lc["sequence"]); ok && s == expected {
					return &Break{"reordered", cid, seq, fmt.Sprintf("reordered: %s comes before sequence %d, which appears later", where, expected)}
				}
			}
			gap := fmt.Sprintf("sequences %d..%d", expected, seq-1)
			if seq == expected+1 {
				gap = fmt.Sprintf("sequence %d", expected)
			}
			return &Break{"missing", cid, expected, fmt.Sprintf("missing: chain %q lacks %s; the next event present is sequence %d", cid, gap, seq)}
		}
		got, err := eventHash(c["prev_hash"], e)
		if err != nil {
			return &Break{"modified", cid, seq, "modified: " + where + ": " + err.Error()}
		}
		if got != hash {
			return &Break{"modified", cid, seq, fmt.Sprintf("modified: %s: its content hashes to %s..., but its event_hash is %.16v...", where, got[:16], c["event_hash"])}
		}
		want := genesis
		if had {
			want = prev.hash
		}
		if c["prev_hash"] != want {
			return &Break{"wrong_prev_hash", cid, seq, fmt.Sprintf("wrong_prev_hash: %s: prev_hash %.16v... is not %s...", where, c["prev_hash"], want[:16])}
		}
		last[cid] = state{seq, hash}
		if seen[cid] == nil {
			seen[cid] = map[int64]string{}
		}
		seen[cid][seq] = hash
	}
	return nil
}

// chainKey orders events as the Merkle tree does (section 6): chain_id as UTF-8 bytes, then sequence.
func chainLess(a, b map[string]any) bool {
	ca, _ := a["chain"].(map[string]any)
	cb, _ := b["chain"].(map[string]any)
	ia, _ := ca["chain_id"].(string)
	ib, _ := cb["chain_id"].(string)
	if ia != ib {
		return strings.Compare(ia, ib) < 0 // Go compares strings bytewise: UTF-8 order
	}
	sa, _ := intValue(ca["sequence"])
	sb, _ := intValue(cb["sequence"])
	return sa < sb
}
