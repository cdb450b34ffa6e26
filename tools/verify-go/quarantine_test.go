package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const qPeriod = "20261128T100000Z"

// linked returns chain "acme" (version 1) of n events, sequences 1..n.
func linked(t *testing.T, n int) []map[string]any {
	prev := genesis
	var out []map[string]any
	for i := 1; i <= n; i++ {
		v, err := parseJSON([]byte(fmt.Sprintf(`{"event_id":"acme-%d","tenant_id":"acme","message":"m%d","time":%d}`, i, i, 1764324000000+i)))
		if err != nil {
			t.Fatal(err)
		}
		e := v.(map[string]any)
		h, err := eventHash(prev, e)
		if err != nil {
			t.Fatal(err)
		}
		e["chain"] = map[string]any{"chain_id": "acme", "sequence": json.Number(fmt.Sprint(i)), "prev_hash": prev, "event_hash": h}
		prev = h
		out = append(out, e)
	}
	return out
}

func hashOf(e map[string]any) string { return e["chain"].(map[string]any)["event_hash"].(string) }

// replaced returns events with the one at sequence seq replaced by a copy of the one at by:
// a row removed and the signed row count made up, so that only the chain check can tell.
func replaced(events []map[string]any, seq, by int64) []map[string]any {
	var with map[string]any
	for _, e := range events {
		if asInt(e["chain"].(map[string]any)["sequence"]) == by {
			with = e
		}
	}
	out := append([]map[string]any(nil), events...)
	for i, e := range out {
		if asInt(e["chain"].(map[string]any)["sequence"]) == seq {
			out[i] = with
		}
	}
	return out
}

func without(events []map[string]any, seqs ...int64) []map[string]any {
	var out []map[string]any
next:
	for _, e := range events {
		for _, s := range seqs {
			if asInt(e["chain"].(map[string]any)["sequence"]) == s {
				continue next
			}
		}
		out = append(out, e)
	}
	return out
}

type qArchive struct {
	sealed, export []map[string]any // what the digest signs; what the JSON export holds (nil: none)
	entries        []map[string]any // the digest's quarantined list
	objects        map[string][]byte
	head           state
	otherHeads     map[string]state // heads of other chains
}

func writeFile(t *testing.T, p string, data []byte) {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// write seals a one-period archive by hand (CHAIN.md section 8) and returns its directory.
func (a qArchive) write(t *testing.T, s signer) string {
	dir := t.TempDir()
	key := "events/tenant=acme/dt=2026-11-28/hour=10/" + qPeriod + ".parquet"
	data := []byte("stands for the Parquet file, whose bytes the digest pins")
	writeFile(t, filepath.Join(dir, key), data)
	if a.export != nil {
		rows, _ := json.Marshal(a.export)
		writeFile(t, filepath.Join(dir, key+".json"), rows)
	}
	for k, b := range a.objects {
		writeFile(t, filepath.Join(dir, k), b)
	}
	var leaves []string
	for _, e := range a.sealed {
		leaves = append(leaves, hashOf(e))
	}
	root, _ := merkleRoot(leaves)
	first, last := a.sealed[0]["chain"].(map[string]any), a.sealed[len(a.sealed)-1]["chain"].(map[string]any)
	d := map[string]any{
		"format": "auditflow-digest/1", "key_id": keyID(s.pub),
		"period":   map[string]any{"id": qPeriod, "start": "2026-11-28T10:00:00Z", "end": "2026-11-28T11:00:00Z"},
		"previous": map[string]any{"key": nil, "sha256": genesis},
		"files": []any{map[string]any{"key": key, "kind": "events", "tenant": "acme", "rows": len(a.sealed),
			"bytes": len(data), "sha256": sha256Hex(data)}},
		"events": map[string]any{"count": len(a.sealed), "tree_size": len(a.sealed), "merkle_root": root},
		"chains": []any{map[string]any{"chain_id": "acme", "count": len(a.sealed), "start_sequence": 0, "start_hash": genesis,
			"first_sequence": first["sequence"], "first_hash": first["event_hash"],
			"last_sequence": last["sequence"], "last_hash": last["event_hash"], "break": nil}},
		"quarantined": a.entries,
		"heads":       map[string]any{"acme": []any{a.head.seq, a.head.hash}},
	}
	for cid, h := range a.otherHeads {
		d["heads"].(map[string]any)[cid] = []any{h.seq, h.hash}
	}
	raw, _ := json.Marshal(d)
	v, err := parseJSON(raw) // numbers as json.Number, as a verifier reads them
	if err != nil {
		t.Fatal(err)
	}
	doc := v.(map[string]any)
	s.sign(t, doc)
	raw, _ = json.MarshalIndent(doc, "", " ")
	writeFile(t, filepath.Join(dir, "digests", qPeriod+".json"), raw)
	return dir
}

func verifyDir(t *testing.T, dir string, s signer) (int, string) {
	var out, errOut bytes.Buffer
	kc := newKeyChain(map[string]ed25519.PublicKey{keyID(s.pub): s.pub})
	code := runArchive(dir, kc, &out, &errOut)
	if errOut.Len() != 0 {
		t.Fatalf("stderr %q", errOut.String())
	}
	return code, out.String()
}

// modifiedAt: event seq of chain acme 1..n was quarantined in place (its content does not hash
// to its event_hash): every other event seals, the chain resumes from its claimed hash.
func modifiedAt(t *testing.T, n int, seq int64) (qArchive, string) {
	evs := linked(t, n)
	obj := []byte(`{"format":"auditflow-quarantine/1","kind":"modified"}` + "\n")
	qkey := "quarantine/" + qPeriod + "/000001.json"
	reason := fmt.Sprintf("modified: chain 'acme' sequence %d ('acme-%d'): its staged content hashes to 1111111111111111..., but its event_hash is 2222222222222222...", seq, seq)
	entry := map[string]any{"key": qkey, "sha256": sha256Hex(obj), "kind": "modified", "record_kind": "events",
		"tenant": "acme", "chain_id": "acme", "sequence": seq, "event_id": fmt.Sprintf("acme-%d", seq), "reason": reason,
		"resume": map[string]any{"sequence": seq, "event_hash": hashOf(evs[seq-1])}}
	sealed := without(evs, seq)
	last := evs[n-1]
	return qArchive{sealed: sealed, export: sealed, entries: []map[string]any{entry},
		objects: map[string][]byte{qkey: obj}, head: state{int64(n), hashOf(last)}}, reason
}

func TestAQuarantinedEventIsReportedOncePerRecordAndExit1(t *testing.T) {
	s := newSigner(t)
	a, reason := modifiedAt(t, 5, 3)
	for _, export := range []bool{true, false} {
		if !export {
			a.export = nil
		}
		code, out := verifyDir(t, a.write(t, s), s)
		events := "4 events from 1 JSON exports"
		if !export {
			events = "events not checked (no JSON export beside the Parquet files)"
		}
		want := "QUARANTINED: 1 record(s) the sealer held back (listed in the signed digests, kept under quarantine/); the rest verifies: " +
			"1 digests (signatures by trusted keys " + keyID(s.pub) + ", digest chain, heads), 1 files (SHA-256, size), " + events + "\n" +
			"  period " + qPeriod + ": kind modified; chain acme; sequence 3; quarantine/" + qPeriod + "/000001.json: " + reason + "\n"
		if code != 1 || out != want {
			t.Errorf("export %v: exit %d\n%s\nwant\n%s", export, code, out, want)
		}
	}
}

func TestAResumeMovesTheHeadPastTheLastSealedEvent(t *testing.T) {
	s := newSigner(t)
	a, _ := modifiedAt(t, 5, 5) // the last event quarantined: sealed 1..4, heads at 5 (its claimed hash)
	if code, out := verifyDir(t, a.write(t, s), s); code != 1 || !strings.HasPrefix(out, "QUARANTINED: 1 record(s)") {
		t.Fatalf("exit %d, %s", code, out)
	}
	a.head = state{4, hashOf(a.sealed[3])} // heads that ignore the signed resume
	code, out := verifyDir(t, a.write(t, s), s)
	want := "BROKEN: digest mismatch: digest " + qPeriod + " heads[\"acme\"] is not sequence 5, the previous heads updated with this period's chains and quarantine resumes\n"
	if code != 1 || !strings.HasPrefix(out, want) {
		t.Fatalf("exit %d, %s", code, out)
	}
}

func TestAGapEntryResumesAtTheNextEventsPrevHash(t *testing.T) {
	s := newSigner(t)
	evs := linked(t, 5)
	reason := "missing: chain 'acme' lacks sequence 3 in staging; it resumes at sequence 4 ('acme-4')"
	gap := map[string]any{"key": nil, "sha256": nil, "kind": "missing", "record_kind": "events", "tenant": "acme",
		"chain_id": "acme", "sequence": 3, "last_sequence": 3, "event_id": nil, "reason": reason,
		"resume": map[string]any{"sequence": 3, "event_hash": evs[3]["chain"].(map[string]any)["prev_hash"]}}
	sealed := without(evs, 3)
	a := qArchive{sealed: sealed, export: sealed, entries: []map[string]any{gap}, head: state{5, hashOf(evs[4])}}
	code, out := verifyDir(t, a.write(t, s), s)
	if code != 1 || !strings.HasSuffix(out, "\n  period "+qPeriod+": kind missing; chain acme; sequence 3; no record: "+reason+"\n") || strings.Count(out, "\n") != 2 {
		t.Fatalf("exit %d, %s", code, out)
	}
}

func TestABreakNoSignedResumeExplainsIsStillABreak(t *testing.T) {
	s := newSigner(t)
	cases := []struct {
		name string
		edit func(a *qArchive)
		want string
	}{
		// a row of the export removed after the quarantined one
		{"deleted_after", func(a *qArchive) { a.export = replaced(a.export, 4, 5) },
			"BROKEN: missing: chain \"acme\" lacks sequence 4; the next event present is sequence 5\n  kind: missing; tenant/chain: acme; sequence: 4; period: " + qPeriod + ";"},
		// a row removed before it: the piece up to the entry does not reach sequence 2
		{"deleted_before", func(a *qArchive) { a.export = replaced(a.export, 2, 4) },
			"BROKEN: missing: chain \"acme\" ends at sequence 1 before the quarantined sequence 3: sequences 2..2 are absent\n  kind: missing; tenant/chain: acme; sequence: 2; period: " + qPeriod + ";"},
		// an entry without a resume takes no place: it explains no gap
		{"no_resume", func(a *qArchive) { delete(a.entries[0], "resume") },
			"BROKEN: missing: chain \"acme\" lacks sequence 3; the next event present is sequence 4\n  kind: missing; tenant/chain: acme; sequence: 3; period: " + qPeriod + ";"},
		// an entry of another chain explains nothing in this one
		{"other_chain", func(a *qArchive) {
			a.entries[0]["chain_id"] = "acme/audit.raw.app/0"
			a.otherHeads = map[string]state{"acme/audit.raw.app/0": {3, hashOf(linked(t, 3)[2])}}
		}, "BROKEN: missing: chain \"acme\" lacks sequence 3; the next event present is sequence 4\n  kind: missing; tenant/chain: acme; sequence: 3; period: " + qPeriod + ";"},
		{"object_altered", func(a *qArchive) {
			for k := range a.objects {
				a.objects[k] = []byte("{}\n")
			}
		}, "BROKEN: digest mismatch: quarantined record quarantine/" + qPeriod + "/000001.json has SHA-256 " + sha256Hex([]byte("{}\n"))[:16] + "..., digest " + qPeriod + " signs "},
		{"object_absent", func(a *qArchive) { a.objects = nil },
			"BROKEN: missing: quarantined record quarantine/" + qPeriod + "/000001.json is listed in digest " + qPeriod + " but absent from the archive\n  kind: missing; tenant/chain: acme; sequence: -; period: " + qPeriod + ";"},
		{"object_unlisted", func(a *qArchive) { a.objects["quarantine/"+qPeriod+"/000099.json"] = []byte("{}") },
			"BROKEN: extra: quarantine/" + qPeriod + "/000099.json is in the archive but in no signed digest\n  kind: extra; tenant/chain: -; sequence: -; period: -;"},
	}
	for _, c := range cases {
		a, _ := modifiedAt(t, 5, 3)
		c.edit(&a)
		if code, out := verifyDir(t, a.write(t, s), s); code != 1 || !strings.HasPrefix(out, c.want) {
			t.Errorf("%s: exit %d, %s\nwant %s", c.name, code, out, c.want)
		}
	}
}
