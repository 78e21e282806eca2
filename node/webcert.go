package node

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/murmurnet/murmur/crdt"
)

// The web interface's certificate. Beyond this computer (murmur run
// --ui-listen with an address that is not loopback) the interface is
// served over TLS only, with a certificate the node makes for itself: an
// ECDSA P-256 key (what every browser takes), self-signed, for this
// machine's addresses. No authority vouches for it: the person checks, once,
// that the fingerprint the browser shows is the one `murmur run` and
// `murmur ui` print. Its private key is sealed at rest under the device
// key, like the network key.

const (
	webCertName = "web.crt"
	webKeyName  = "web.key.sealed"
)

// WebCertificate is the web interface's certificate, made on first use,
// and its SHA-256 fingerprint as browsers show it (AB:CD:...).
func (n *Node) WebCertificate() (tls.Certificate, string, error) {
	if n.key == nil {
		return tls.Certificate{}, "", ErrLocked
	}
	certPEM, err := os.ReadFile(filepath.Join(n.dir, webCertName))
	if errors.Is(err, os.ErrNotExist) {
		if err := n.makeWebCertificate(); err != nil {
			return tls.Certificate{}, "", err
		}
		certPEM, err = os.ReadFile(filepath.Join(n.dir, webCertName))
	}
	if err != nil {
		return tls.Certificate{}, "", err
	}
	keyDER, err := openAtRest(filepath.Join(n.dir, webKeyName), n.key, n.device, crdt.ID{}, "web-key")
	if err != nil {
		return tls.Certificate{}, "", fmt.Errorf("reading the web interface's key (%s): %w", webKeyName, err)
	}
	block, _ := pem.Decode(certPEM)
	if block == nil {
		return tls.Certificate{}, "", fmt.Errorf("%s is damaged: remove it (and %s) to make a new one", webCertName, webKeyName)
	}
	key, err := x509.ParseECPrivateKey(keyDER)
	if err != nil {
		return tls.Certificate{}, "", fmt.Errorf("%s is damaged: remove it (and %s) to make a new one", webKeyName, webCertName)
	}
	return tls.Certificate{Certificate: [][]byte{block.Bytes}, PrivateKey: key}, Fingerprint(block.Bytes), nil
}

// WebFingerprint is the fingerprint of the web interface's certificate in
// the data directory dir, read without the key (murmur ui prints it).
func WebFingerprint(dir string) (string, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, webCertName))
	if err != nil {
		return "", err
	}
	block, _ := pem.Decode(certPEM)
	if block == nil {
		return "", fmt.Errorf("%s is damaged: remove it (and %s) to make a new one", webCertName, webKeyName)
	}
	return Fingerprint(block.Bytes), nil
}

// Fingerprint is a certificate's SHA-256 fingerprint as browsers show it.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}

// makeWebCertificate makes the certificate and seals its key.
func (n *Node) makeWebCertificate() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "Murmur web interface"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           machineIPs(),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := sealAtRest(filepath.Join(n.dir, webKeyName), n.key, n.device, crdt.ID{}, "web-key", keyDER); err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(n.dir, webCertName), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
}

// machineIPs are this machine's IP addresses, loopback included.
func machineIPs() []net.IP {
	ips := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && !ipn.IP.IsLinkLocalUnicast() {
			ips = append(ips, ipn.IP)
		}
	}
	return ips
}
