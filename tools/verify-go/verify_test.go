package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDoublesAreWrittenAsECMAScriptDoes(t *testing.T) {
	for in, want := range map[string]string{
		"1e21": "1e+21", "1e-7": "1e-7", "1e20": "100000000000000000000", "5e-324": "5e-324",
		"-0.0": "0", "0.30000000000000004": "0.30000000000000004", "123.0": "123", "1.5e-6": "0.0000015",
		"1e-6": "0.000001", "-33.8688": "-33.8688", "151.2093": "151.2093",
		"1.7976931348623157e308": "1.7976931348623157e+308", "9007199254740993.0": "9007199254740992",
	} {
		got, err := formatNumber(json.Number(in))
		if err != nil || got != want {
			t.Errorf("formatNumber(%s) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestIntegersBeyond2To53AreRefused(t *testing.T) {
	for in, ok := range map[string]bool{"9007199254740991": true, "-9007199254740991": true,
		"9007199254740992": false, "-9007199254740992": false, "123456789012345678901": false, "-0": true} {
		_, err := formatNumber(json.Number(in))
		if (err == nil) != ok {
			t.Errorf("formatNumber(%s): err %v, want accepted=%v", in, err, ok)
		}
	}
}

func TestMembersSortByUTF16CodeUnits(t *testing.T) {
	v, _ := parseJSON([]byte(`{"ﬀ":1,"😀":2,"é":3,"e":4,"a":{"b":null,"a":[]}}`))
	got, err := canonicalJSON(v)
	want := `{"a":{"a":[],"b":null},"e":4,"é":3,"😀":2,"ﬀ":1}`
	if err != nil || string(got) != want {
		t.Errorf("got %s, %v; want %s", got, err, want)
	}
}

func TestTheVectorsPass(t *testing.T) {
	passed, fails, err := checkVectors("../../schemas/chain_vectors.json")
	if err != nil || len(fails) != 0 || passed < 70 {
		t.Fatalf("passed %d, failed %v, err %v", passed, fails, err)
	}
}

type signer struct {
	priv ed25519.PrivateKey
	pub  ed25519.PublicKey
}

func newSigner(t *testing.T) signer {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return signer{priv, pub}
}

func (s signer) pem(t *testing.T) string {
	der, err := x509.MarshalPKIXPublicKey(s.pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func (s signer) sign(t *testing.T, obj map[string]any) {
	msg, err := signedBytes(obj)
	if err != nil {
		t.Fatal(err)
	}
	obj["signature"] = base64.StdEncoding.EncodeToString(ed25519.Sign(s.priv, msg))
}

func digestBy(t *testing.T, s signer, start string, rotation map[string]any) map[string]any {
	d := map[string]any{"format": "auditflow-digest/1", "key_id": keyID(s.pub),
		"period": map[string]any{"start": start, "id": periodID(start)}}
	if rotation != nil {
		d["rotation"] = rotation
	}
	s.sign(t, d)
	return d
}

func rotationFrom(t *testing.T, old, next signer, start string) map[string]any {
	r := map[string]any{"format": "auditflow-key-rotation/1", "previous_key_id": keyID(old.pub),
		"key_id": keyID(next.pub), "public_key": next.pem(t), "valid_from": start}
	old.sign(t, r)
	return r
}

func TestARotationSignedByTheAcceptedKeyIsFollowed(t *testing.T) {
	a, b, c := newSigner(t), newSigner(t), newSigner(t)
	kc := newKeyChain(map[string]ed25519.PublicKey{keyID(a.pub): a.pub})
	wrongPEM := map[string]any{"format": "auditflow-key-rotation/1", "previous_key_id": keyID(a.pub),
		"key_id": keyID(b.pub), "public_key": c.pem(t), "valid_from": "2026-11-28T11:00:00Z"}
	a.sign(t, wrongPEM)
	steps := []struct {
		d    map[string]any
		want string // "" ok, else a substring of the error
	}{
		{digestBy(t, a, "2026-11-28T10:00:00Z", nil), ""},
		{digestBy(t, b, "2026-11-28T11:00:00Z", nil), "untrusted key " + keyID(b.pub) + ": the digest has no rotation record"},
		{digestBy(t, b, "2026-11-28T11:00:00Z", rotationFrom(t, b, b, "2026-11-28T11:00:00Z")), "is from key " + keyID(b.pub) + ", not from the accepted key " + keyID(a.pub)},
		{digestBy(t, b, "2026-11-28T11:00:00Z", rotationFrom(t, a, b, "2026-11-28T10:00:00Z")), "valid from 2026-11-28T10:00:00Z"},
		{digestBy(t, c, "2026-11-28T11:00:00Z", rotationFrom(t, a, b, "2026-11-28T11:00:00Z")), "untrusted key " + keyID(c.pub) + ": its rotation record introduces key " + keyID(b.pub)},
		{digestBy(t, b, "2026-11-28T11:00:00Z", wrongPEM), "rotation's public_key is not the key " + keyID(b.pub)},
		{digestBy(t, b, "2026-11-28T11:00:00Z", rotationFrom(t, a, b, "2026-11-28T11:00:00Z")), ""},
		{digestBy(t, b, "2026-11-28T12:00:00Z", nil), ""},
		{digestBy(t, a, "2026-11-28T13:00:00Z", nil), "untrusted key " + keyID(a.pub) + ": it was retired"},
	}
	for i, s := range steps {
		k, err := kc.keyFor(s.d)
		switch {
		case s.want == "" && (err != nil || !checkSignature(s.d, k)):
			t.Errorf("step %d: %v", i, err)
		case s.want != "" && (err == nil || !strings.Contains(err.Error(), s.want)):
			t.Errorf("step %d: error %v, want %q", i, err, s.want)
		}
	}
}

func TestAnUnpinnedKeyIsRefusedNamingIt(t *testing.T) {
	a, x := newSigner(t), newSigner(t)
	kc := newKeyChain(map[string]ed25519.PublicKey{keyID(a.pub): a.pub})
	if _, err := kc.keyFor(digestBy(t, x, "2026-11-28T10:00:00Z", nil)); err == nil ||
		err.Error() != "untrusted key "+keyID(x.pub)+": it is not pinned" {
		t.Fatalf("got %v", err)
	}
}

func TestAMalformedProofIsOneLineAndExit2(t *testing.T) {
	dir := t.TempDir()
	a := newSigner(t)
	key := filepath.Join(dir, "k.pem")
	if err := os.WriteFile(key, []byte(a.pem(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	for body, want := range map[string]string{
		`{"format":"auditflow-proof/1","event_id":"e","chain_id":"c","period":"p","sequence":1,"leaf_index":0,"tree_size":1,"event_hash":"` + genesis + `","root":"` + genesis + `","proof":[]}`:                        "event is missing: a proof must carry the event it proves",
		`{"format":"auditflow-proof/1","event_id":"e","chain_id":"c","period":"p","sequence":1,"leaf_index":0,"tree_size":1,"event_hash":"` + strings.ToUpper(genesis[:63]) + `A","root":"` + genesis + `","proof":[]}`: "event_hash and root must be 64 lower-case hex characters",
		`[1]`:   "not a JSON object",
		`{"a":`: "not JSON",
	} {
		f := filepath.Join(dir, "p.json")
		if err := os.WriteFile(f, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		var out, errOut bytes.Buffer
		code := run([]string{"proof", "-public-key", key, f}, &out, &errOut)
		if code != 2 || !strings.HasPrefix(out.String(), "MALFORMED: "+f+": "+want) || strings.Count(out.String(), "\n") != 1 {
			t.Errorf("%s: exit %d, %q %q", body, code, out.String(), errOut.String())
		}
	}
}

func TestNoPinnedKeyIsAUsageError(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"proof", "x.json"}, &out, &errOut); code != 2 ||
		errOut.String() != "verify-go: no pinned key: pass -public-key FILE (a trust file of PEM public keys)\n" {
		t.Fatalf("exit %d, %q", code, errOut.String())
	}
}
