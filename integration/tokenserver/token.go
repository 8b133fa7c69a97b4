// SPDX-License-Identifier: Apache-2.0

package main

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// resourceActions is one entry of the "access" claim, as understood by
// distribution's registry/auth/token package.
type resourceActions struct {
	Type    string   `json:"type"`
	Class   string   `json:"class,omitempty"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// claimSet is the JWT payload verified by distribution 2.8. The audience is
// a single string there, not an array.
type claimSet struct {
	Issuer     string             `json:"iss"`
	Subject    string             `json:"sub"`
	Audience   string             `json:"aud"`
	Expiration int64              `json:"exp"`
	NotBefore  int64              `json:"nbf"`
	IssuedAt   int64              `json:"iat"`
	JWTID      string             `json:"jti"`
	Access     []*resourceActions `json:"access"`
}

// jwtHeader carries the signing certificate in x5c, which distribution
// verifies against its rootcertbundle.
type jwtHeader struct {
	Type       string   `json:"typ"`
	SigningAlg string   `json:"alg"`
	X5c        []string `json:"x5c"`
}

// signer produces RS256 tokens with an x5c header.
type signer struct {
	key     *rsa.PrivateKey
	certDER []byte
}

// loadSigner reads the RSA private key and matching certificate PEM files.
func loadSigner(keyPath, certPath string) (*signer, error) {
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("read key: %w", err)
	}
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, fmt.Errorf("read cert: %w", err)
	}
	key, err := parsePrivateKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("parse key %s: %w", keyPath, err)
	}
	cert, err := parseCertificate(certPEM)
	if err != nil {
		return nil, fmt.Errorf("parse cert %s: %w", certPath, err)
	}
	return newSigner(key, cert)
}

// newSigner checks that the certificate holds the key's public half.
func newSigner(key *rsa.PrivateKey, cert *x509.Certificate) (*signer, error) {
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, errors.New("certificate does not match private key")
	}
	return &signer{key: key, certDER: cert.Raw}, nil
}

// parsePrivateKey accepts a PKCS#1 or PKCS#8 RSA private key PEM.
func parsePrivateKey(data []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no pem block")
	}
	switch block.Type {
	case "RSA PRIVATE KEY":
		return x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("pkcs8: %w", err)
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("key is %T, want rsa", k)
		}
		return rk, nil
	default:
		return nil, fmt.Errorf("unsupported pem type %q", block.Type)
	}
}

// parseCertificate returns the first CERTIFICATE block of a PEM file.
func parseCertificate(data []byte) (*x509.Certificate, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New("no certificate pem block")
		}
		if block.Type == "CERTIFICATE" {
			return x509.ParseCertificate(block.Bytes)
		}
	}
}

// sign serialises the claims as a compact RS256 JWS.
func (s *signer) sign(claims claimSet) (string, error) {
	header := jwtHeader{
		Type:       "JWT",
		SigningAlg: "RS256",
		X5c:        []string{base64.StdEncoding.EncodeToString(s.certDER)},
	}
	hb, err := json.Marshal(header)
	if err != nil {
		return "", fmt.Errorf("marshal header: %w", err)
	}
	cb, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("marshal claims: %w", err)
	}
	enc := base64.RawURLEncoding
	input := enc.EncodeToString(hb) + "." + enc.EncodeToString(cb)
	digest := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.key, crypto.SHA256, digest[:])
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	return input + "." + enc.EncodeToString(sig), nil
}

// randomID returns 16 random bytes as hex, used for the jti claim.
func randomID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	return hex.EncodeToString(b), nil
}
