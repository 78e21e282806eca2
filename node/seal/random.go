package seal

import (
	"crypto/rand"
	"fmt"
)

// random is this package's one source of randomness: the ephemeral keys of
// To, and the content keys and nonces of Details. It is the only code here
// that may read crypto/rand (purity_test.go); everything else takes keys and
// bytes and returns bytes.
func random(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("seal: reading randomness: %v", err))
	}
	return b
}
