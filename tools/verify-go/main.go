// Command verify-go is a second verifier of schemas/CHAIN.md, following the spec with the
// Go standard library only: the test vectors, one inclusion proof, or a local
// copy of a sealed archive, always against pinned public keys.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

const usage = `verify-go: check auditflow evidence from schemas/CHAIN.md alone (Go standard library).

Usage:
  verify-go vectors [FILE]                      every vector (default schemas/chain_vectors.json)
  verify-go proof -public-key KEY.pem PROOF     one inclusion proof from 'auditflow prove'
  verify-go archive -public-key KEY.pem DIR     a local copy of a sealed archive

-public-key FILE is a trust file (one or more PEM PUBLIC KEY blocks, Ed25519, SPKI); repeat it
to pin several keys. Nothing inside the proof or the archive is trusted by itself: a key that
is not pinned counts only when a rotation record signed by the accepted key introduces it.

Examples:
  verify-go vectors schemas/chain_vectors.json
  auditflow prove 7c9e6679-7425-40de-944b-e07fc1f90ae7 -o proof.json
  verify-go proof -public-key auditor-trust.pem proof.json
  aws s3 sync s3://audit-worm/ ./worm-copy && verify-go archive -public-key auditor-trust.pem ./worm-copy

Exit codes: 0 verified, 1 broken (the reason on stdout) or, with nothing else wrong, records the
sealer quarantined (listed in a signed digest; one line each), 2 usage error or unreadable input.
`

type keyFiles []string

func (k *keyFiles) String() string     { return strings.Join(*k, ",") }
func (k *keyFiles) Set(v string) error { *k = append(*k, v); return nil }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, out, errOut io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(errOut, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	fl := flag.NewFlagSet("verify-go "+args[0], flag.ContinueOnError)
	fl.SetOutput(io.Discard)
	var keys keyFiles
	fl.Var(&keys, "public-key", "trust file of PEM public keys (repeatable)")
	var rest []string
	for next := args[1:]; ; next = fl.Args()[1:] { // flags before or after the file
		if err := fl.Parse(next); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprint(errOut, usage)
				return 0
			}
			fmt.Fprintf(errOut, "verify-go: %v (see verify-go --help)\n", err)
			return 2
		}
		if fl.NArg() == 0 {
			break
		}
		rest = append(rest, fl.Arg(0))
	}
	switch args[0] {
	case "vectors":
		file := "schemas/chain_vectors.json"
		if len(rest) > 0 {
			file = rest[0]
		}
		passed, fails, err := checkVectors(file)
		if err != nil {
			fmt.Fprintf(errOut, "verify-go: %s: %v\n", file, err)
			return 2
		}
		for _, f := range fails {
			fmt.Fprintf(out, "FAIL %s\n", f)
		}
		fmt.Fprintf(out, "verify-go vectors: %d passed, %d failed\n", passed, len(fails))
		if len(fails) > 0 {
			return 1
		}
		return 0
	case "proof", "archive":
		if len(rest) != 1 {
			fmt.Fprintf(errOut, "verify-go %s: give exactly one %s (see verify-go --help)\n", args[0], map[string]string{"proof": "PROOF file", "archive": "DIR"}[args[0]])
			return 2
		}
		pinned, err := loadTrust(keys)
		if err != nil {
			fmt.Fprintf(errOut, "verify-go: %v\n", err)
			return 2
		}
		if args[0] == "proof" {
			return runProof(rest[0], newKeyChain(pinned), out, errOut)
		}
		return runArchive(rest[0], newKeyChain(pinned), out, errOut)
	}
	fmt.Fprintf(errOut, "verify-go: unknown command %q (see verify-go --help)\n", args[0])
	return 2
}

func runProof(file string, keys *keyChain, out, errOut io.Writer) int {
	data, err := os.ReadFile(file)
	if err != nil {
		fmt.Fprintf(errOut, "verify-go: %v\n", err)
		return 2
	}
	v, err := parseJSON(data)
	if err != nil {
		fmt.Fprintf(out, "MALFORMED: %s: not JSON (%v)\n", file, err)
		return 2
	}
	p, ok := v.(map[string]any)
	if !ok {
		fmt.Fprintf(out, "MALFORMED: %s: not a JSON object\n", file)
		return 2
	}
	problems, malformed := verifyProof(p, keys)
	if malformed != "" {
		fmt.Fprintf(out, "MALFORMED: %s: %s\n", file, malformed)
		return 2
	}
	for _, m := range problems {
		fmt.Fprintf(out, "FAILED: %s\n", m)
	}
	if len(problems) > 0 {
		return 1
	}
	fmt.Fprintf(out, "OK: event %v (chain %q sequence %v) is leaf %v of %v in period %v, whose digest is signed by trusted key %s\n",
		p["event_id"], p["chain_id"], p["sequence"], p["leaf_index"], p["tree_size"], p["period"], keys.accepted)
	return 0
}

func runArchive(dir string, keys *keyChain, out, errOut io.Writer) int {
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		fmt.Fprintf(errOut, "verify-go: %s: no such directory (a local copy of the archive)\n", dir)
		return 2
	}
	rep, b := verifyArchive(dir, keys)
	if b != nil {
		seq := "-"
		if b.seq > 0 {
			seq = fmt.Sprint(b.seq)
		}
		fmt.Fprintf(out, "BROKEN: %s\n  kind: %s; tenant/chain: %s; sequence: %s; period: %s; checked before the break: %d digests, %d files\n",
			b.msg, b.kind, orDash(b.who), seq, orDash(b.period), rep.digests, rep.files)
		return 1
	}
	var ids []string
	for k := range rep.keys {
		ids = append(ids, k)
	}
	sort.Strings(ids)
	events := fmt.Sprintf("%d events from %d JSON exports", rep.events, rep.exported)
	if rep.exported == 0 {
		events = "events not checked (no JSON export beside the Parquet files)"
	}
	summary := fmt.Sprintf("%d digests (signatures by trusted keys %s, digest chain, heads), %d files (SHA-256, size), %s",
		rep.digests, strings.Join(ids, ", "), rep.files, events)
	if len(rep.quarantined) == 0 {
		fmt.Fprintf(out, "OK: %s\n", summary)
		return 0
	}
	// nothing else is wrong: the signed holes are the finding, one line each, as auditflow verify prints them
	fmt.Fprintf(out, "QUARANTINED: %d record(s) the sealer held back (listed in the signed digests, kept under quarantine/); the rest verifies: %s\n",
		len(rep.quarantined), summary)
	for _, q := range rep.quarantined {
		seq, record := "-", "no record"
		if q.hasSeq {
			seq = fmt.Sprint(q.seq)
		}
		if q.key != "" {
			record = q.key
		}
		fmt.Fprintf(out, "  period %s: kind %s; chain %s; sequence %s; %s: %s\n", q.period, q.kind, orDash(q.chainID), seq, record, q.reason)
	}
	return 1
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
