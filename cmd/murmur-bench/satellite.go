package main

import (
	"context"
	"fmt"
	"io"
	"time"

	msync "github.com/murmurnet/murmur/sync"
)

// satellite prints how long a day's work (500 entries from 20
// organisations, about 230 KB) takes to cross a link of 32 kbit/s with an
// 800 ms round trip, without and with 10% loss, simulated in process (see
// sync/satellite.go): beside the link's floor (the bytes on the sync
// stream at its rate), and the bytes on the stream over the entries'
// encoded size. scale > 1 runs the link that many times faster with a
// round trip that many times shorter, and scales the times back: the
// ratios stay those of the full-scale link, processing aside.
func satellite(ctx context.Context, w io.Writer, scale int) error {
	const rate = 32e3 / 8 // bytes per second
	raws, err := msync.SatelliteEntries(500, 20, 1)
	if err != nil {
		return err
	}
	var encoded int64
	for _, raw := range raws {
		encoded += int64(len(raw))
	}
	fmt.Fprintf(w, "satellite: a day's work (%d entries from 20 organisations, %.0f KB encoded) over a link of 32 kbit/s, 800 ms round trip; the entries alone take %.1f s at that rate\n",
		len(raws), float64(encoded)/1e3, float64(encoded)/rate)
	fmt.Fprintf(w, "  %5s %9s %9s %9s %15s %22s\n", "loss", "took", "floor", "vs floor", "vs the entries", "on the wire / entries")
	for _, loss := range []float64{0, 0.1} {
		prof := msync.LinkProfile{Rate: rate * float64(scale), RTT: 800 * time.Millisecond / time.Duration(scale), Loss: loss}
		res, err := msync.Satellite(ctx, prof, raws, msync.SyncOptions{})
		if err != nil {
			return fmt.Errorf("%g%% loss: %w", loss*100, err)
		}
		took, floor := res.Took*time.Duration(scale), res.Floor*time.Duration(scale)
		fmt.Fprintf(w, "  %4.0f%% %8.1fs %8.1fs %8.2fx %14.2fx %21.2fx  (target: within 1.5x of the floor)\n", loss*100, took.Seconds(), floor.Seconds(),
			float64(took)/float64(floor), took.Seconds()/(float64(encoded)/rate), float64(res.WireBytes)/float64(res.EntryBytes))
	}
	fmt.Fprintf(w, "  floor: the bytes on the sync stream (messages and entry frames, compressed) at the link's rate. Simulated in process: each way, the\n")
	fmt.Fprintf(w, "  link's rate and half the round trip; a lost packet takes the link again and holds what follows for a round trip. No congestion\n")
	fmt.Fprintf(w, "  control, transport headers or handshakes.")
	if scale > 1 {
		fmt.Fprintf(w, " Run %dx faster with a %dx shorter round trip; times scaled back.", scale, scale)
	}
	fmt.Fprintln(w)
	return nil
}
