package p2p

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/murmurnet/murmur/crdt"
)

// The live path's writes (gossip). The validator must know where an entry
// stands before it answers (only accepted entries are forwarded), and the
// state's answer counts only once it is stored (node/core.go: the state keeps
// no entry the store does not). So each validator hands its entry to the
// committer and waits: the committer takes every entry waiting, gives
// them to the state in one step and stores the step in one transaction,
// then answers each. One transaction carries as many entries as arrived
// while the last was written: a group commit, with no timer.

// commitBatch is how many entries one commit takes at most.
const commitBatch = 512

// commitOnClose bounds the last commit as the runner stops, within
// Close's wait.
const commitOnClose = 4 * time.Second

// errNotTaken: the committer did not give the entry to the state, or did
// not store what it decided (the runner stopping, a write that failed).
var errNotTaken = errors.New("not taken in")

type commitReq struct {
	e    *crdt.Entry
	done chan crdt.Result // (buffered 1)
}

// commit gives e to the state and stores it (by the committer, with the
// entries other validators wait on), and returns where it stands. If the
// runner stops first, or the write fails, the Result has no status and
// the entry's Reason says why: it is not kept (reconciliation brings it
// again).
func (r *Runner) commit(e *crdt.Entry) crdt.Result {
	req := commitReq{e: e, done: make(chan crdt.Result, 1)}
	select {
	case r.commits <- req:
	case <-r.ctx.Done():
		return crdt.Result{Reason: fmt.Errorf("%w: %w", errNotTaken, r.ctx.Err())}
	}
	select {
	case res := <-req.done:
		return res
	case <-r.ctx.Done():
		// The committer answers what it took before it stops; wait for it
		// a bounded time.
		select {
		case res := <-req.done:
			return res
		case <-time.After(commitOnClose + time.Second):
			return crdt.Result{Reason: fmt.Errorf("%w: %w", errNotTaken, r.ctx.Err())}
		}
	}
}

// commitLoop is the committer.
func (r *Runner) commitLoop() {
	// A write is not cut short by the runner stopping: what was taken is
	// stored, or the state is loaded again without it.
	ctx := context.WithoutCancel(r.ctx)
	for {
		var batch []commitReq
		select {
		case <-r.ctx.Done():
			// Answer what is queued, within a bound.
			last, cancel := context.WithTimeout(ctx, commitOnClose)
			for {
				select {
				case req := <-r.commits:
					batch = append(batch, req)
					continue
				default:
				}
				break
			}
			r.commitSome(last, batch)
			cancel()
			return
		case req := <-r.commits:
			batch = append(batch, req)
		}
	more:
		for len(batch) < commitBatch {
			select {
			case req := <-r.commits:
				batch = append(batch, req)
			default:
				break more
			}
		}
		r.commitSome(ctx, batch)
	}
}

// commitSome gives one batch to the state, stores it, and answers each
// validator.
func (r *Runner) commitSome(ctx context.Context, batch []commitReq) {
	if len(batch) == 0 {
		return
	}
	es := make([]*crdt.Entry, len(batch))
	for i, req := range batch {
		es[i] = req.e
	}
	results, err := r.core.CommitLive(ctx, es)
	if err != nil {
		r.log.Warn(fmt.Sprintf("storing entries from the network: %v", err))
	}
	for i, req := range batch {
		if err != nil {
			req.done <- crdt.Result{Reason: fmt.Errorf("%w: %w", errNotTaken, err)}
			continue
		}
		req.done <- results[i]
	}
}
