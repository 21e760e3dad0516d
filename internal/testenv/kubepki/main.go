// Command kubepki writes the test control plane's keys and certificates
// (scripts/k8s/controlplane.sh): a cluster CA, the API server's serving
// certificate (valid for the host's loopback, QEMU's 10.0.2.2 as the VM sees
// the host, and the kubernetes Service), the service-account signing key and
// client certificates named by -client CN/O,… pairs. ECDSA P-256, one day.
//
//	kubepki -dir DIR [-client name=CN/O ...]
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

type clients []string

func (c *clients) String() string     { return strings.Join(*c, " ") }
func (c *clients) Set(v string) error { *c = append(*c, v); return nil }

func main() {
	dir := flag.String("dir", "", "where to write the files")
	var cl clients
	flag.Var(&cl, "client", "name=CN[/O]: a client certificate name.crt/name.key (repeatable)")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "kubepki: -dir is required")
		os.Exit(2)
	}
	if err := run(*dir, cl); err != nil {
		fmt.Fprintln(os.Stderr, "kubepki:", err)
		os.Exit(1)
	}
}

func run(dir string, cl clients) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	caKey, err := write(dir, "ca", nil, nil, &x509.Certificate{
		Subject: pkix.Name{CommonName: "qinq-test-ca"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	})
	if err != nil {
		return err
	}
	ca, err := readCert(filepath.Join(dir, "ca.crt"))
	if err != nil {
		return err
	}
	if _, err := write(dir, "apiserver", ca, caKey, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		DNSNames:    []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv4(10, 0, 2, 2), net.IPv4(10, 96, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}); err != nil {
		return err
	}
	for _, c := range cl {
		name, subj, ok := strings.Cut(c, "=")
		if !ok {
			return fmt.Errorf("-client %q: want name=CN[/O]", c)
		}
		cn, o, _ := strings.Cut(subj, "/")
		s := pkix.Name{CommonName: cn}
		if o != "" {
			s.Organization = []string{o}
		}
		if _, err := write(dir, name, ca, caKey, &x509.Certificate{Subject: s,
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}); err != nil {
			return err
		}
	}
	// The service-account signing key: no certificate, its public half alone.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	if err := writeKey(filepath.Join(dir, "sa.key"), key); err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "sa.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o600)
}

// write makes name.key and name.crt, signed by ca (self-signed when nil).
func write(dir, name string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, tmpl *x509.Certificate) (*ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	parent, signer := tmpl, key
	if ca != nil {
		parent, signer = ca, caKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		return nil, err
	}
	if err := writeKey(filepath.Join(dir, name+".key"), key); err != nil {
		return nil, err
	}
	return key, os.WriteFile(filepath.Join(dir, name+".crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600)
}

func readCert(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	return x509.ParseCertificate(b.Bytes)
}
