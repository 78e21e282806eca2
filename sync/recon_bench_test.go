package sync

import (
	"fmt"
	"testing"
)

// BenchmarkReconcile runs whole conversations between two in-memory sets
// of N items differing in d (ReconTable's sets), and reports what one costs
// on the wire. The sets are not changed (pushes are not delivered), so
// every iteration has the same conversation.
//
// For comparison, Negentropy's published analysis gives about 3 round
// trips and 1.5 KB for N = 1M, d = 1.
func BenchmarkReconcile(b *testing.B) {
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		for _, d := range []int{0, 1, 100, 10_000} {
			b.Run(fmt.Sprintf("N=%d/d=%d", n, d), func(b *testing.B) {
				x, y, _ := tableSets(n, d)
				var st convStats
				for b.Loop() {
					var err error
					if st, err = converse(x, y, Options{}, Options{}, nil); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64((st.messages+1)/2), "round-trips")
				b.ReportMetric(float64(st.messages), "messages")
				b.ReportMetric(float64(st.bytes[0]), "initiator-bytes")
				b.ReportMetric(float64(st.bytes[1]), "responder-bytes")
				b.ReportMetric(float64(st.bytes[0]+st.bytes[1]), "total-bytes")
			})
		}
	}
}

// BenchmarkReconTable prints ReconTable for the sizes the design is judged
// by: go test -v -run '^$' -bench ReconTable -benchtime 1x ./sync/
func BenchmarkReconTable(b *testing.B) {
	for b.Loop() {
		for _, r := range ReconTable([]int{10_000, 100_000, 1_000_000}, []int{0, 1, 100, 10_000}) {
			b.Log(r)
		}
	}
}
