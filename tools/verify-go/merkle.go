package main

// RFC 6962 Merkle trees over event hashes (schemas/CHAIN.md section 6).

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
)

func leafHash(data []byte) []byte {
	h := sha256.Sum256(append([]byte{0}, data...))
	return h[:]
}

func nodeHash(l, r []byte) []byte {
	h := sha256.Sum256(append(append([]byte{1}, l...), r...))
	return h[:]
}

func split(n int) int { // the largest power of two strictly smaller than n (n >= 2)
	k := 1
	for k<<1 < n {
		k <<= 1
	}
	return k
}

func mth(hashes [][]byte) []byte {
	switch len(hashes) {
	case 0:
		h := sha256.Sum256(nil)
		return h[:]
	case 1:
		return hashes[0]
	}
	k := split(len(hashes))
	return nodeHash(mth(hashes[:k]), mth(hashes[k:]))
}

func decodeLeaves(leaves []string) ([][]byte, error) {
	out := make([][]byte, len(leaves))
	for i, l := range leaves {
		d, err := hex.DecodeString(l)
		if err != nil {
			return nil, err
		}
		out[i] = leafHash(d)
	}
	return out, nil
}

// merkleRoot is MTH of the leaf data (hex), hex.
func merkleRoot(leaves []string) (string, error) {
	h, err := decodeLeaves(leaves)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(mth(h)), nil
}

func path(m int, hashes [][]byte) [][]byte {
	if len(hashes) <= 1 {
		return nil
	}
	k := split(len(hashes))
	if m < k {
		return append(path(m, hashes[:k]), mth(hashes[k:]))
	}
	return append(path(m-k, hashes[k:]), mth(hashes[:k]))
}

// inclusionProof is RFC 6962 PATH(index, D[0:n]), leaf sibling first, hex.
func inclusionProof(index int, leaves []string) ([]string, error) {
	h, err := decodeLeaves(leaves)
	if err != nil {
		return nil, err
	}
	if index < 0 || index >= len(h) {
		return nil, errors.New("index outside the tree")
	}
	var out []string
	for _, p := range path(index, h) {
		out = append(out, hex.EncodeToString(p))
	}
	return out, nil
}

// rootFromInclusion is RFC 9162 section 2.1.3.2: the root the proof leads to from leaf data at
// index in a tree of size leaves.
func rootFromInclusion(leaf []byte, index, size int64, proof []string) (string, error) {
	if index < 0 || index >= size {
		return "", errors.New("leaf index outside the tree")
	}
	fn, sn := index, size-1
	r := leafHash(leaf)
	for _, ph := range proof {
		p, err := hex.DecodeString(ph)
		if err != nil || len(p) != 32 {
			return "", errors.New("a proof element is not 32 bytes of hex")
		}
		if sn == 0 {
			return "", errors.New("proof longer than the path to the root")
		}
		if fn&1 == 1 || fn == sn {
			r = nodeHash(p, r)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			r = nodeHash(r, p)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 {
		return "", errors.New("proof shorter than the path to the root")
	}
	return hex.EncodeToString(r), nil
}

func decodeHex(s string) ([]byte, error) { return hex.DecodeString(s) }
