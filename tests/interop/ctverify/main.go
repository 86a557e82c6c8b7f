// Command ctverify checks RFC 6962 / RFC 9162 Merkle proofs with Google's Certificate
// Transparency verifier (github.com/google/certificate-transparency/go/merkletree, as Debian
// packages it in golang-github-google-certificate-transparency-dev): code we did not write, so a
// proof it accepts is not accepted merely because we agree with ourselves.
//
// tests/integration/test_proof_interop.py builds it (GOPATH=/usr/share/gocode, GO111MODULE=off,
// CGO_ENABLED=0: the verifier is pure Go, only the package's unused tree wrapper needs C++) and
// feeds it one JSON request per proof on stdin, in RFC 9162 terms:
//
//	{"kind": "inclusion", "index": 0-based, "tree_size": n, "leaf_input": base64 of the leaf's bytes,
//	 "hashes": [hex], "root": hex}
//	{"kind": "consistency", "first": m, "second": n, "first_root": hex, "second_root": hex,
//	 "hashes": [hex]}
//
// It prints one verdict per request, in order: {"ok": true} or {"ok": false, "error": "..."}.
// A request it cannot read is a broken harness, not a rejected proof: it exits 2.
package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/google/certificate-transparency/go/merkletree"
)

type request struct {
	Kind       string   `json:"kind"`
	Index      int64    `json:"index"`
	TreeSize   int64    `json:"tree_size"`
	LeafInput  string   `json:"leaf_input"`
	Root       string   `json:"root"`
	First      int64    `json:"first"`
	Second     int64    `json:"second"`
	FirstRoot  string   `json:"first_root"`
	SecondRoot string   `json:"second_root"`
	Hashes     []string `json:"hashes"`
}

type verdict struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

func sha256Sum(data []byte) []byte {
	sum := sha256.Sum256(data)
	return sum[:]
}

func unhex(text string) []byte {
	data, err := hex.DecodeString(text)
	if err != nil {
		fail("not hex: %q", text)
	}
	return data
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "ctverify: "+format+"\n", args...)
	os.Exit(2)
}

func check(verifier merkletree.MerkleVerifier, r request) error {
	hashes := make([][]byte, len(r.Hashes))
	for i, h := range r.Hashes {
		hashes[i] = unhex(h)
	}
	switch r.Kind {
	case "inclusion":
		leaf, err := base64.StdEncoding.DecodeString(r.LeafInput)
		if err != nil {
			fail("leaf_input is not base64: %q", r.LeafInput)
		}
		// This 2016 API numbers leaves from 1 and hashes the leaf input itself (0x00 prefix):
		// RFC 9162 leaf index i is its leaf i+1.
		return verifier.VerifyInclusionProof(r.Index+1, r.TreeSize, hashes, unhex(r.Root), leaf)
	case "consistency":
		return verifier.VerifyConsistencyProof(r.First, r.Second, unhex(r.FirstRoot), unhex(r.SecondRoot), hashes)
	}
	fail("unknown kind %q", r.Kind)
	return nil
}

func main() {
	verifier := merkletree.NewMerkleVerifier(sha256Sum)
	decoder := json.NewDecoder(bufio.NewReader(os.Stdin))
	decoder.DisallowUnknownFields()
	out := bufio.NewWriter(os.Stdout)
	encoder := json.NewEncoder(out)
	for {
		var r request
		if err := decoder.Decode(&r); err == io.EOF {
			break
		} else if err != nil {
			fail("bad request: %v", err)
		}
		v := verdict{OK: true}
		if err := check(verifier, r); err != nil {
			v = verdict{OK: false, Error: err.Error()}
		}
		if err := encoder.Encode(v); err != nil {
			fail("cannot write: %v", err)
		}
	}
	if err := out.Flush(); err != nil {
		fail("cannot write: %v", err)
	}
}
