package main

// The archive check over a local copy of a sealed archive (the LocalStore layout of
// schemas/CHAIN.md section 8). The standard library reads no Parquet, so the events are
// checked only where a JSON export sits beside their file (<file>.parquet.json, a JSON array of
// its rows in stored order, CHAIN.md section 2 form: see README.md); the digest chain and
// every file's bytes are checked always.

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

type archiveReport struct {
	digests, files, exported, events int
	keys                             map[string]bool
	quarantined                      []quarantineEntry // of every period checked, oldest first
}

// archiveBreak is the first failure: its kind and sentence, and where known the tenant or
// chain, the sequence (0: none) and the period, as auditflow verify reports them.
type archiveBreak struct {
	kind, msg, who string
	seq            int64
	period         string
}

func (b *archiveBreak) Error() string { return b.msg }

func (b *archiveBreak) at(who string, seq int64) *archiveBreak {
	b.who, b.seq = who, seq
	return b
}

func broken(kind, format string, a ...any) *archiveBreak {
	return &archiveBreak{kind: kind, msg: kind + ": " + fmt.Sprintf(format, a...)}
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// periodID is the compact form of an ISO 8601 period start: 2026-11-28T10:00:00Z -> 20261128T100000Z.
func periodID(start string) string {
	return strings.NewReplacer("-", "", ":", "").Replace(start)
}

// safeKey refuses keys that would leave the archive directory.
func safeKey(k string) bool {
	return k != "" && !strings.HasPrefix(k, "/") && !strings.Contains("/"+k+"/", "/../")
}

func verifyArchive(dir string, keys *keyChain) (*archiveReport, *archiveBreak) {
	rep := &archiveReport{keys: map[string]bool{}}
	names, err := filepath.Glob(filepath.Join(dir, "digests", "*.json"))
	if err != nil || len(names) == 0 {
		return rep, broken("missing", "%s has no digests/*.json", dir)
	}
	sort.Strings(names)
	listed := map[string]bool{}
	heads := map[string]state{}
	var prevRaw []byte
	var prevKey, prevEnd string
	for _, name := range names {
		key := "digests/" + filepath.Base(name)
		fail := func(b *archiveBreak) (*archiveReport, *archiveBreak) {
			b.period = strings.TrimSuffix(filepath.Base(name), ".json")
			return rep, b
		}
		raw, err := os.ReadFile(name)
		if err != nil {
			return fail(broken("missing", "%s: %v", key, err))
		}
		rep.digests++
		v, err := parseJSON(raw)
		d, ok := v.(map[string]any)
		if err != nil || !ok || d["format"] != "auditflow-digest/1" {
			return fail(broken("digest mismatch", "%s is not a digest of format auditflow-digest/1", key))
		}
		period, _ := d["period"].(map[string]any)
		start, _ := period["start"].(string)
		end, _ := period["end"].(string)
		pid, _ := period["id"].(string)
		k, err := keys.keyFor(d)
		if err != nil {
			return fail(broken("bad signature", "%s: %v", key, err))
		}
		if !checkSignature(d, k) {
			return fail(broken("bad signature", "%s does not verify with key %s: its content was changed or another key signed it", key, keys.accepted))
		}
		rep.keys[keys.accepted] = true
		if prevRaw != nil && start != prevEnd {
			return fail(broken("missing", "no digest for %s .. %s (between %s and %s)", prevEnd, start, prevKey, key))
		}
		prev, _ := d["previous"].(map[string]any)
		want, wantKey := genesis, any(nil)
		if prevRaw != nil {
			want, wantKey = sha256Hex(prevRaw), prevKey
		}
		if prev["sha256"] != want || prev["key"] != wantKey {
			if prevRaw == nil {
				return fail(broken("missing", "%s continues from digest %v, which is absent (the first digest follows the genesis value)", key, prev["key"]))
			}
			return fail(broken("digest mismatch", "%s names previous digest %v with SHA-256 %.16v..., but %s hashes to %s...", key, prev["key"], prev["sha256"], prevKey, want[:16]))
		}
		if pid != strings.TrimSuffix(filepath.Base(name), ".json") || pid != periodID(start) || end <= start {
			return fail(broken("digest mismatch", "%s holds period %v [%v, %v)", key, pid, start, end))
		}
		if b := checkPeriod(dir, d, heads, listed, rep); b != nil {
			return fail(b)
		}
		heads = map[string]state{}
		h, _ := d["heads"].(map[string]any)
		for cid, x := range h {
			pair, _ := x.([]any)
			if len(pair) == 2 {
				hs, _ := pair[1].(string)
				heads[cid] = state{asInt(pair[0]), hs}
			}
		}
		prevRaw, prevKey, prevEnd = raw, key, end
	}
	var extra []string
	for _, kind := range []string{"events", "alerts", "quarantine"} {
		_ = filepath.WalkDir(filepath.Join(dir, kind), func(p string, e fs.DirEntry, err error) error {
			if err == nil && !e.IsDir() && !strings.HasSuffix(p, ".parquet.json") {
				rel, _ := filepath.Rel(dir, p)
				if !listed[filepath.ToSlash(rel)] {
					extra = append(extra, filepath.ToSlash(rel))
				}
			}
			return nil
		})
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		more := ""
		if len(extra) > 1 {
			more = fmt.Sprintf(" (%d such files)", len(extra))
		}
		return rep, broken("extra", "%s is in the archive but in no signed digest%s", extra[0], more)
	}
	return rep, nil
}

// checkPeriod checks one digest's files, its chain records against the previous heads, its
// quarantine objects, and, where every events file has a JSON export, the events' chains and
// the Merkle root.
func checkPeriod(dir string, d map[string]any, heads map[string]state, listed map[string]bool, rep *archiveReport) *archiveBreak {
	pid, _ := d["period"].(map[string]any)["id"].(string)
	qs, b := parseQuarantined(d, pid)
	if b != nil {
		return b
	}
	for _, q := range qs {
		if q.key != "" {
			listed[q.key] = true
		}
	}
	files, _ := d["files"].([]any)
	var events []map[string]any
	allExported := true
	for _, x := range files {
		f, _ := x.(map[string]any)
		key, _ := f["key"].(string)
		if !safeKey(key) {
			return broken("digest mismatch", "digest %v lists a file key %q outside the archive", pid, key)
		}
		listed[key] = true
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(key)))
		if err != nil {
			return broken("missing", "%s is listed in digest %v but absent from the archive", key, pid)
		}
		rep.files++
		if sum := sha256Hex(data); sum != f["sha256"] || int64(len(data)) != asInt(f["bytes"]) {
			return broken("modified", "%s has SHA-256 %s... and %d bytes, digest %v signs %.16v... and %v bytes", key, sum[:16], len(data), pid, f["sha256"], f["bytes"])
		}
		if f["kind"] != "events" {
			continue
		}
		export, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(key)+".json"))
		if err != nil {
			allExported = false
			continue
		}
		v, err := parseJSON(export)
		rows, ok := v.([]any)
		if err != nil || !ok || int64(len(rows)) != asInt(f["rows"]) {
			return broken("digest mismatch", "%s.json is not a JSON array of the %v rows digest %v signs", key, f["rows"], pid)
		}
		rep.exported++
		for _, r := range rows {
			e, ok := r.(map[string]any)
			if !ok {
				return broken("digest mismatch", "%s.json holds a row that is not an object", key)
			}
			events = append(events, e)
		}
	}
	// the chain records: each starts where the previous digest's heads left it
	chains, _ := d["chains"].([]any)
	next := map[string]state{}
	for k, v := range heads {
		next[k] = v
	}
	var total int64
	var signed []string
	for _, x := range chains {
		c, _ := x.(map[string]any)
		cid, _ := c["chain_id"].(string)
		h, had := heads[cid]
		if !had {
			h = state{0, genesis}
		}
		if asInt(c["start_sequence"]) != h.seq || c["start_hash"] != h.hash {
			return broken("wrong_prev_hash", "digest %v starts chain %q at sequence %v, but the previous digest's head is sequence %d", pid, cid, c["start_sequence"], h.seq).at(cid, 0)
		}
		ls, _ := c["last_hash"].(string)
		next[cid] = state{asInt(c["last_sequence"]), ls}
		signed = append(signed, cid)
		total += asInt(c["count"])
	}
	// a quarantine resume moves a chain past its last sealed event (a modified event kept in
	// place, a gap): the later of the two is where the chain stands
	for _, q := range qs {
		if cur, ok := next[q.chainID]; q.chainID != "" && q.resume != nil && (!ok || q.resume.seq > cur.seq) {
			next[q.chainID] = *q.resume
		}
	}
	dh, _ := d["heads"].(map[string]any)
	for cid, s := range next {
		pair, _ := dh[cid].([]any)
		if len(pair) != 2 || asInt(pair[0]) != s.seq || pair[1] != s.hash {
			return broken("digest mismatch", "digest %v heads[%q] is not sequence %d, the previous heads updated with this period's chains and quarantine resumes", pid, cid, s.seq)
		}
	}
	if len(dh) != len(next) {
		return broken("digest mismatch", "digest %v heads list chains that no digest sealed", pid)
	}
	m, _ := d["events"].(map[string]any)
	size, root := asInt(m["tree_size"]), m["merkle_root"]
	if size != total {
		return broken("digest mismatch", "digest %v has tree_size %d, but its chains count %d events", pid, size, total)
	}
	if !allExported {
		return quarantineChecked(dir, qs, pid, rep)
	}
	rep.events += len(events)
	// every chain ends at the digest's heads (checked above to be next)
	if b := checkEvents(events, heads, signed, next, qs, pid); b != nil {
		return b
	}
	if b := quarantineChecked(dir, qs, pid, rep); b != nil {
		return b
	}
	sorted := append([]map[string]any(nil), events...)
	sort.SliceStable(sorted, func(i, j int) bool { return chainLess(sorted[i], sorted[j]) })
	leaves := make([]string, len(sorted))
	for i, e := range sorted {
		leaves[i] = e["chain"].(map[string]any)["event_hash"].(string)
	}
	got, _ := merkleRoot(leaves)
	if got != root || int64(len(leaves)) != size {
		return broken("digest mismatch", "the Merkle root over the %d exported events of period %v is %s..., the digest signs %.16v... over %d", len(leaves), pid, got[:16], root, size)
	}
	return nil
}

// quarantineChecked checks the period's quarantine objects and keeps its entries for the report.
func quarantineChecked(dir string, qs []quarantineEntry, pid string, rep *archiveReport) *archiveBreak {
	if b := checkQuarantineObjects(dir, qs, pid); b != nil {
		return b
	}
	rep.quarantined = append(rep.quarantined, qs...)
	return nil
}
