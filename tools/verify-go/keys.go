package main

// Pinned Ed25519 keys, digest signatures and key rotation records (schemas/CHAIN.md sections
// 8-9): only keys from trust files are trusted, a new key only through a rotation record signed
// by the key accepted before it.

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

func keyID(k ed25519.PublicKey) string {
	h := sha256.Sum256(k)
	return hex.EncodeToString(h[:])[:16]
}

// parsePEMKeys reads every PEM "PUBLIC KEY" (SPKI) block of data as an Ed25519 key.
func parsePEMKeys(data []byte) ([]ed25519.PublicKey, error) {
	var out []ed25519.PublicKey
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("a PEM block of type %q, expected PUBLIC KEY (SPKI)", b.Type)
		}
		k, err := x509.ParsePKIXPublicKey(b.Bytes)
		if err != nil {
			return nil, err
		}
		ek, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, errors.New("a public key that is not Ed25519")
		}
		out = append(out, ek)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM PUBLIC KEY block")
	}
	return out, nil
}

func loadTrust(files []string) (map[string]ed25519.PublicKey, error) {
	if len(files) == 0 {
		return nil, errors.New("no pinned key: pass -public-key FILE (a trust file of PEM public keys)")
	}
	pinned := map[string]ed25519.PublicKey{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		keys, err := parsePEMKeys(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", f, err)
		}
		for _, k := range keys {
			pinned[keyID(k)] = k
		}
	}
	return pinned, nil
}

// signedBytes is RFC 8785 of the object without its signature member.
func signedBytes(obj map[string]any) ([]byte, error) {
	o := make(map[string]any, len(obj))
	for k, v := range obj {
		if k != "signature" {
			o[k] = v
		}
	}
	return canonicalJSON(o)
}

// decodeSignature accepts standard padded base64 of 64 bytes only.
func decodeSignature(v any) ([]byte, bool) {
	s, ok := v.(string)
	if !ok {
		return nil, false
	}
	sig, err := base64.StdEncoding.Strict().DecodeString(s)
	return sig, err == nil && len(sig) == ed25519.SignatureSize
}

func checkSignature(obj map[string]any, k ed25519.PublicKey) bool {
	sig, ok := decodeSignature(obj["signature"])
	if !ok {
		return false
	}
	msg, err := signedBytes(obj)
	return err == nil && ed25519.Verify(k, msg, sig)
}

// keyChain applies the rotation rule: the accepted key starts as the pinned key of the first
// digest; a digest with another key_id must carry a rotation from the accepted key, after
// which the old key is retired.
type keyChain struct {
	pinned   map[string]ed25519.PublicKey
	accepted string
	keys     map[string]ed25519.PublicKey
	retired  map[string]bool
}

func newKeyChain(pinned map[string]ed25519.PublicKey) *keyChain {
	return &keyChain{pinned: pinned, keys: map[string]ed25519.PublicKey{}, retired: map[string]bool{}}
}

// rotate checks a rotation record r from the accepted key to key newID; validFrom "" skips the
// period check (a proof's rotations list carries no period of its own).
func (t *keyChain) rotate(r map[string]any, newID, validFrom string) error {
	switch {
	case r["key_id"] != newID:
		return fmt.Errorf("untrusted key %s: its rotation record introduces key %v instead", newID, r["key_id"])
	case r["format"] != "auditflow-key-rotation/1":
		return fmt.Errorf("untrusted key %s: its rotation record has format %v", newID, r["format"])
	case r["previous_key_id"] != t.accepted:
		return fmt.Errorf("untrusted key %s: its rotation is from key %v, not from the accepted key %s", newID, r["previous_key_id"], t.accepted)
	case validFrom != "" && r["valid_from"] != validFrom:
		return fmt.Errorf("untrusted key %s: its rotation is valid from %v, not from the digest's period start %s", newID, r["valid_from"], validFrom)
	}
	pemText, _ := r["public_key"].(string)
	keys, err := parsePEMKeys([]byte(pemText))
	if err != nil || len(keys) != 1 || keyID(keys[0]) != newID {
		return fmt.Errorf("untrusted key %s: the rotation's public_key is not the key %s", newID, newID)
	}
	if !checkSignature(r, t.keys[t.accepted]) {
		return fmt.Errorf("untrusted key %s: its rotation record is not signed by the accepted key %s", newID, t.accepted)
	}
	t.retired[t.accepted] = true
	t.accepted, t.keys[newID] = newID, keys[0]
	return nil
}

// start makes a pinned key the accepted one when none is yet.
func (t *keyChain) start(id string) bool {
	if t.accepted != "" {
		return true
	}
	if k, ok := t.pinned[id]; ok {
		t.accepted, t.keys[id] = id, k
		return true
	}
	return false
}

// keyFor returns the key a digest must verify with, or why no key is acceptable.
func (t *keyChain) keyFor(d map[string]any) (ed25519.PublicKey, error) {
	id, _ := d["key_id"].(string)
	if !t.start(id) {
		return nil, fmt.Errorf("untrusted key %s: it is not pinned", id)
	}
	if id != t.accepted {
		if t.retired[id] {
			return nil, fmt.Errorf("untrusted key %s: it was retired by a rotation to key %s", id, t.accepted)
		}
		r, ok := d["rotation"].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("untrusted key %s: the digest has no rotation record from the accepted key %s", id, t.accepted)
		}
		period, _ := d["period"].(map[string]any)
		start, _ := period["start"].(string)
		if err := t.rotate(r, id, start); err != nil {
			return nil, err
		}
	}
	return t.keys[t.accepted], nil
}
