package main

// The test vectors of schemas/CHAIN.md section 7, checked from the file alone.

import (
	"fmt"
	"os"
	"sort"
)

func checkVectors(file string) (int, []string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return 0, nil, err
	}
	v, err := parseJSON(data)
	if err != nil {
		return 0, nil, err
	}
	doc, ok := v.(map[string]any)
	if !ok {
		return 0, nil, fmt.Errorf("not a vectors object")
	}
	passed := 0
	var fails []string
	check := func(ok bool, format string, a ...any) {
		if ok {
			passed++
		} else {
			fails = append(fails, fmt.Sprintf(format, a...))
		}
	}
	objs := func(x any) []map[string]any {
		l, _ := x.([]any)
		out := make([]map[string]any, 0, len(l))
		for _, y := range l {
			o, _ := y.(map[string]any)
			out = append(out, o)
		}
		return out
	}
	strs := func(x any) []string {
		l, _ := x.([]any)
		out := make([]string, 0, len(l))
		for _, y := range l {
			s, _ := y.(string)
			out = append(out, s)
		}
		return out
	}
	equal := func(a, b []string) bool {
		if len(a) != len(b) {
			return false
		}
		for i := range a {
			if a[i] != b[i] {
				return false
			}
		}
		return true
	}

	rows := objs(doc["events"])
	var events []map[string]any
	for _, r := range rows {
		e, _ := r["event"].(map[string]any)
		events = append(events, e)
		c, _ := e["chain"].(map[string]any)
		got, err := canonicalEvent(e)
		check(err == nil && string(got) == r["canonical"], "canonical form of %v", e["event_id"])
		h, err := eventHash(c["prev_hash"], e)
		check(err == nil && h == c["event_hash"], "event_hash of %v", e["event_id"])
	}
	check(len(events) > 0 && verifyChain(events, nil) == nil, "the vector chains verify intact")
	for _, t := range objs(doc["tampered"]) {
		want, _ := t["expect"].(map[string]any)
		b := verifyChain(objs(t["events"]), nil)
		wantSeq, _ := intValue(want["sequence"])
		check(b != nil && b.Kind == want["kind"] && b.ChainID == want["chain_id"] && b.Sequence == wantSeq,
			"tampered case %v reports %v at chain %v sequence %v (got %+v)", t["name"], want["kind"], want["chain_id"], want["sequence"], b)
	}
	for _, c := range objs(doc["canonical_cases"]) {
		got, err := canonicalEvent(c["event"].(map[string]any))
		if _, refuse := c["error"]; refuse {
			check(err != nil, "canonical case %v is refused", c["name"])
		} else {
			check(err == nil && string(got) == c["canonical"], "canonical case %v (got %s, %v)", c["name"], got, err)
		}
	}
	m, _ := doc["merkle"].(map[string]any)
	ref, _ := m["rfc6962"].(map[string]any)
	leaves, roots := strs(ref["leaves"]), strs(ref["roots"])
	for n, root := range roots {
		got, err := merkleRoot(leaves[:n])
		check(err == nil && got == root, "RFC 6962 root of size %d", n)
	}
	for _, t := range objs(ref["inclusion"]) {
		i, n, proof := int(asInt(t["index"])), int(asInt(t["size"])), strs(t["proof"])
		got, err := inclusionProof(i, leaves[:n])
		check(err == nil && equal(got, proof), "RFC 6962 proof %d/%d reproduced", i, n)
		leaf, _ := decodeHex(leaves[i])
		r, err := rootFromInclusion(leaf, int64(i), int64(n), proof)
		check(err == nil && r == roots[n], "RFC 6962 proof %d/%d verifies", i, n)
	}
	ap, _ := m["acme_period"].(map[string]any)
	al := strs(ap["leaves"])
	got, _ := merkleRoot(al)
	check(got == ap["root"], "acme period root")
	for _, t := range objs(ap["inclusion"]) {
		i := int(asInt(t["index"]))
		p, err := inclusionProof(i, al)
		check(err == nil && equal(p, strs(t["proof"])), "acme proof %d reproduced", i)
		leaf, _ := decodeHex(al[i])
		r, err := rootFromInclusion(leaf, int64(i), int64(len(al)), strs(t["proof"]))
		check(err == nil && r == ap["root"], "acme proof %d verifies", i)
		r, err = rootFromInclusion(leaf, int64((i+1)%len(al)), int64(len(al)), strs(t["proof"]))
		check(err != nil || r != ap["root"], "acme proof %d fails at another index", i)
	}
	all, _ := m["all_chains_period"].(map[string]any)
	ordered := append([]map[string]any(nil), events...)
	sort.SliceStable(ordered, func(i, j int) bool { return chainLess(ordered[i], ordered[j]) })
	var hashes []string
	ids := map[string]bool{}
	var idList []string
	for _, e := range ordered {
		c := e["chain"].(map[string]any)
		hashes = append(hashes, c["event_hash"].(string))
		if id := c["chain_id"].(string); !ids[id] {
			ids[id] = true
			idList = append(idList, id)
		}
	}
	got, _ = merkleRoot(hashes)
	check(equal(hashes, strs(all["leaves"])) && equal(idList, strs(all["chain_ids"])) && got == all["root"],
		"one period over every chain and shard, in chain order")
	return passed, fails, nil
}
