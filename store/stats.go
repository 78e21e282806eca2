package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"

	"github.com/murmurnet/murmur/crdt"
)

// The response statistics' inputs (crdt.RequestStat), one per request,
// and the totals kept from them (migration 10): `murmur stats` reads a
// row per kind and region, a histogram of the times to a first answer,
// and the unanswered requests past their deadline, not the log.

// StatsGroup is what the store keeps of the requests of one kind in one
// region.
type StatsGroup struct {
	Kind   crdt.RequestType
	Region string
	// Requests, of them Answered; DueAnswered are the answered ones with
	// a deadline, OnTime those answered by it.
	Requests, Answered, DueAnswered, OnTime int
	// PastDue are the unanswered ones whose deadline passed (before the
	// time asked about), PastDueOpen those of them still open.
	PastDue, PastDueOpen int
	// Hist counts the answered ones by the time to their first answer,
	// in buckets (BucketMillis).
	Hist map[int]int
}

// bucketStep is the width of a histogram bucket: 1% of the time.
var bucketStep = math.Log(1.01)

// statsBucket is the bucket of a time to a first answer of ms
// milliseconds.
func statsBucket(ms uint64) int {
	return int(math.Log1p(float64(ms)/60000) / bucketStep)
}

// BucketMillis is the middle of a histogram bucket, in milliseconds:
// within 1% of every time it counts (and of a minute, below one).
func BucketMillis(b int) float64 {
	lo := math.Expm1(float64(b)*bucketStep) * 60000
	hi := math.Expm1(float64(b+1)*bucketStep) * 60000
	return (lo + hi) / 2
}

// answerMillis is the time from a request to its first answer (0 if the
// answer's clock is earlier).
func answerMillis(st crdt.RequestStat) uint64 {
	f, c := st.First.Millis(), st.Created.Millis()
	return f - min(f, c)
}

// statsLabel is the plaintext of a group's label: kind, then region.
func statsLabel(kind crdt.RequestType, region string) []byte {
	b := binary.BigEndian.AppendUint64(nil, uint64(kind))
	return append(b, region...)
}

func parseStatsLabel(b []byte) (crdt.RequestType, string, error) {
	if len(b) < 8 {
		return 0, "", fmt.Errorf("%w: a statistics label is too short", ErrCorrupt)
	}
	return crdt.RequestType(binary.BigEndian.Uint64(b)), string(b[8:]), nil
}

const adStats = "murmur-store-stats-group-v1\n"

func (s *sealer) statsGroup(kind crdt.RequestType, region string) []byte {
	return s.keyed("stats-group", statsLabel(kind, region))
}

// statsGroups remembers the groups a store holds (their keyed hashes by
// kind and region): few, and never removed.
type statsGroups struct {
	mu   sync.Mutex
	grps map[string][]byte
}

// group is the keyed hash of the group of kind and region, stored with
// its sealed label if it is not yet.
func (w *txWriter) group(kind crdt.RequestType, region string) ([]byte, error) {
	g := &w.s.statsGroups
	key := string(statsLabel(kind, region))
	g.mu.Lock()
	grp, ok := g.grps[key]
	g.mu.Unlock()
	if ok {
		return grp, nil
	}
	if grp, ok := w.newGroups[key]; ok {
		return []byte(grp), nil
	}
	grp = w.s.seal.statsGroup(kind, region)
	label, err := w.s.seal.seal(nil, statsLabel(kind, region), append([]byte(adStats), grp...))
	if err != nil {
		return nil, err
	}
	if _, err := w.exec(`INSERT OR IGNORE INTO stats_groups (grp, label) VALUES (?, ?)`, grp, label); err != nil {
		return nil, err
	}
	// (Remembered once the transaction commits: stats_groups rows are
	// never deleted, but this one could be rolled back.)
	if w.newGroups == nil {
		w.newGroups = map[string]string{}
	}
	w.newGroups[key] = string(grp)
	return grp, nil
}

// rememberGroups notes the groups a committed transaction stored.
func (s *SQLite) rememberGroups(gs map[string]string) {
	if len(gs) == 0 {
		return
	}
	s.statsGroups.mu.Lock()
	defer s.statsGroups.mu.Unlock()
	if s.statsGroups.grps == nil {
		s.statsGroups.grps = map[string][]byte{}
	}
	for key, grp := range gs {
		s.statsGroups.grps[key] = []byte(grp)
	}
}

// statRow is what the totals count of one request's inputs.
type statRow struct {
	grp       string
	answered  bool
	due       bool // answered, with a deadline
	onTime    bool
	bucket    int64
	hasBucket bool
}

// statTotals are a transaction's changes to the totals, summed.
type statTotals struct {
	totals map[string]*[4]int64    // grp -> requests, answered, due_answered, on_time
	hist   map[statBucketKey]int64 // (grp, bucket) -> n
}

type statBucketKey struct {
	grp    string
	bucket int64
}

// count adds r to the transaction's totals, or takes it away (by -1).
func (w *txWriter) count(r statRow, by int64) {
	t := &w.statTotals
	if t.totals == nil {
		t.totals, t.hist = map[string]*[4]int64{}, map[statBucketKey]int64{}
	}
	d := t.totals[r.grp]
	if d == nil {
		d = &[4]int64{}
		t.totals[r.grp] = d
	}
	d[0] += by
	for i, b := range []bool{r.answered, r.due, r.onTime} {
		if b {
			d[i+1] += by
		}
	}
	if r.hasBucket {
		t.hist[statBucketKey{r.grp, r.bucket}] += by
	}
}

// storedStat is what the totals count of the inputs stored for id, ok
// false if none are.
func (w *txWriter) storedStat(id crdt.ID) (statRow, bool, error) {
	var grp []byte
	var respondBy, firstMs, bucket sql.NullInt64
	err := w.QueryRowContext(w.ctx, `SELECT s.grp, s.respond_by, s.first_ms, s.bucket FROM entries e JOIN request_stats s ON s.cur = e.cursor WHERE e.id = ?`, id[:]).
		Scan(&grp, &respondBy, &firstMs, &bucket)
	if errors.Is(err, sql.ErrNoRows) {
		return statRow{}, false, nil
	}
	if err != nil {
		return statRow{}, false, err
	}
	r := statRow{grp: string(grp), answered: firstMs.Valid, bucket: bucket.Int64, hasBucket: bucket.Valid}
	r.due = r.answered && respondBy.Valid
	r.onTime = r.due && firstMs.Int64 <= respondBy.Int64
	return r, true, nil
}

// finishStats writes the transaction's changes to the totals.
func (w *txWriter) finishStats() error {
	t := &w.statTotals
	for grp, d := range t.totals {
		if *d == [4]int64{} {
			continue
		}
		if _, err := w.exec(`INSERT INTO stats_totals (grp, requests, answered, due_answered, on_time) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (grp) DO UPDATE SET requests = requests + excluded.requests, answered = answered + excluded.answered,
			due_answered = due_answered + excluded.due_answered, on_time = on_time + excluded.on_time`,
			[]byte(grp), d[0], d[1], d[2], d[3]); err != nil {
			return err
		}
		if d[0] < 0 {
			if _, err := w.exec(`DELETE FROM stats_totals WHERE grp = ? AND requests = 0`, []byte(grp)); err != nil {
				return err
			}
		}
	}
	for k, n := range t.hist {
		if n == 0 {
			continue
		}
		if _, err := w.exec(`INSERT INTO stats_hist (grp, bucket, n) VALUES (?, ?, ?) ON CONFLICT (grp, bucket) DO UPDATE SET n = n + excluded.n`,
			[]byte(k.grp), k.bucket, n); err != nil {
			return err
		}
		if n < 0 {
			if _, err := w.exec(`DELETE FROM stats_hist WHERE grp = ? AND bucket = ? AND n = 0`, []byte(k.grp), k.bucket); err != nil {
				return err
			}
		}
	}
	w.statTotals = statTotals{}
	return nil
}

// putStat stores st in place of what was stored for its request.
func (w *txWriter) putStat(st crdt.RequestStat) error {
	r, args, err := w.statColumns(st)
	if err != nil {
		return err
	}
	old, had, err := w.storedStat(st.ID)
	if err != nil {
		return err
	}
	if had {
		w.count(old, -1)
	}
	w.count(r, 1)
	_, err = w.exec(`INSERT INTO request_stats (cur, grp, created, respond_by, open, first_at, first_ms, first_id, bucket)
		SELECT cursor, ?, ?, ?, ?, ?, ?, ?, ? FROM entries WHERE id = ? AND true
		ON CONFLICT (cur) DO UPDATE SET grp = excluded.grp, created = excluded.created, respond_by = excluded.respond_by, open = excluded.open,
		first_at = excluded.first_at, first_ms = excluded.first_ms, first_id = excluded.first_id, bucket = excluded.bucket`, append(args, st.ID[:])...)
	return err
}

// statsChunk is how many new requests' inputs one statement inserts: a
// statement's overhead is most of a small row's cost.
const statsChunk = 64

// putStatsNew stores the inputs of requests this transaction stored
// (Batch.StatsNew), many rows to a statement. A row that was stored
// already (none should be) is replaced, as putStat does.
func (w *txWriter) putStatsNew(sts []crdt.RequestStat) error {
	var again []crdt.RequestStat // not inserted here: one by one
	for len(sts) > 0 {
		chunk := sts[:min(len(sts), statsChunk)]
		sts = sts[len(chunk):]
		var q strings.Builder
		q.WriteString(`INSERT INTO request_stats (cur, grp, created, respond_by, open, first_at, first_ms, first_id, bucket) VALUES `)
		var args []any
		rows := map[int64]statRow{}
		byCur := map[int64]crdt.RequestStat{}
		for _, st := range chunk {
			cur, ok := w.inserted[st.ID]
			if !ok {
				again = append(again, st)
				continue
			}
			r, a, err := w.statColumns(st)
			if err != nil {
				return err
			}
			if len(rows) > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?)")
			args = append(append(args, cur), a...)
			rows[cur], byCur[cur] = r, st
		}
		if len(rows) == 0 {
			continue
		}
		q.WriteString(` ON CONFLICT (cur) DO NOTHING RETURNING cur`)
		st, err := w.stmt(q.String())
		if err != nil {
			return err
		}
		res, err := st.QueryContext(w.ctx, args...)
		if err != nil {
			return err
		}
		for res.Next() {
			var cur int64
			if err := res.Scan(&cur); err != nil {
				res.Close()
				return err
			}
			w.count(rows[cur], 1)
			delete(byCur, cur)
		}
		if err := errors.Join(res.Err(), res.Close()); err != nil {
			return err
		}
		for _, st := range byCur { // (stored already: replaced)
			again = append(again, st)
		}
	}
	for _, st := range again {
		if err := w.putStat(st); err != nil {
			return err
		}
	}
	return nil
}

// statColumns is what the totals count of st, and the columns of its row
// after its cursor.
func (w *txWriter) statColumns(st crdt.RequestStat) (statRow, []any, error) {
	grp, err := w.group(st.Kind, st.Region)
	if err != nil {
		return statRow{}, nil, err
	}
	r := statRow{grp: string(grp), answered: st.Answered}
	r.due = r.answered && st.RespondBy != 0
	r.onTime = r.due && st.First.Millis() <= st.RespondBy
	var respondBy, firstAt, firstMs, bucket any
	var firstID []byte
	if st.RespondBy != 0 {
		respondBy = int64(min(st.RespondBy, math.MaxInt64))
	}
	if st.Answered {
		b := statsBucket(answerMillis(st))
		r.bucket, r.hasBucket = int64(b), true
		firstAt, firstMs, firstID, bucket = int64(st.First), int64(min(st.First.Millis(), math.MaxInt64)), st.FirstID[:], b
	}
	return r, []any{grp, int64(st.Created), respondBy, st.Open, firstAt, firstMs, firstID, bucket}, nil
}

// dropStat forgets what was stored for request id.
func (w *txWriter) dropStat(id crdt.ID) error {
	old, had, err := w.storedStat(id)
	if err != nil || !had {
		return err
	}
	w.count(old, -1)
	_, err = w.exec(`DELETE FROM request_stats WHERE cur = (SELECT cursor FROM entries WHERE id = ?)`, id[:])
	return err
}

// writeStatsGone forgets the inputs a batch says no longer count: before
// its status changes, which may delete the requests' entries (by whose
// cursor the inputs are found).
func (w *txWriter) writeStatsGone(b Batch) error {
	for _, id := range b.StatsGone {
		if err := w.dropStat(id); err != nil {
			return err
		}
	}
	return nil
}

// writeStats writes what a batch says of the statistics (but StatsGone:
// writeStatsGone), after its entries are stored.
func (w *txWriter) writeStats(b Batch) error {
	if b.StatsReset {
		w.statTotals = statTotals{}
		for _, q := range []string{`DELETE FROM request_stats`, `DELETE FROM stats_totals`, `DELETE FROM stats_hist`, `DELETE FROM marks WHERE name = 'stats'`} {
			if _, err := w.tx.ExecContext(w.ctx, q); err != nil {
				return err
			}
		}
	}
	for _, st := range b.Stats {
		if err := w.putStat(st); err != nil {
			return err
		}
	}
	if err := w.putStatsNew(b.StatsNew); err != nil {
		return err
	}
	if b.StatsBuilt {
		if _, err := w.exec(`INSERT OR REPLACE INTO marks (name, value) VALUES ('stats', 1)`); err != nil {
			return err
		}
	}
	return w.finishStats()
}

// OpenRequest is an open request's place in the inbox's order, after the
// open alerts.
type OpenRequest struct {
	ID        crdt.ID
	Created   crdt.Clock
	RespondBy uint64 // Unix milliseconds; 0: no deadline
}

// Before reports whether o comes before p in the inbox's order: the
// soonest deadline first, those without one last; then the oldest first
// (it has waited longest), then by ID.
func (o OpenRequest) Before(p OpenRequest) bool {
	od, pd := o.RespondBy-1, p.RespondBy-1 // (0, none, wraps around to the last)
	if od != pd {
		return od < pd
	}
	if o.Created != p.Created {
		return o.Created < p.Created
	}
	return bytes.Compare(o.ID[:], p.ID[:]) < 0
}

// openChunk is how many open requests OpenByDeadline reads a query.
const openChunk = 64

// OpenByDeadline implements Store: by the index of the open requests'
// deadlines, a chunk at a time, those with a deadline and then those
// without.
func (s *SQLite) OpenByDeadline(ctx context.Context, kind crdt.RequestType, after *OpenRequest, fn func(OpenRequest) bool) error {
	if s.closed.Load() {
		return ErrClosed
	}
	var at OpenRequest // the last one passed
	if after != nil {
		at = *after
	}
	const cols = `SELECT e.id, r.created, r.respond_by FROM request_stats r INDEXED BY request_stats_open JOIN entries e ON e.cursor = r.cur WHERE r.open = 1 AND `
	kindFilter := ` AND e.tag <> ` + fmt.Sprint(int(crdt.Alert))
	if kind != 0 {
		kindFilter = ` AND e.tag = ` + fmt.Sprint(int(kind))
	}
	for due := true; ; {
		var q string
		var args []any
		switch {
		case due && (after == nil || at.RespondBy != 0):
			q = cols + `r.respond_by IS NOT NULL AND (r.respond_by, r.created, e.id) > (?, ?, ?)` + kindFilter + ` ORDER BY r.respond_by, r.created, e.id LIMIT ?`
			args = []any{int64(min(at.RespondBy, math.MaxInt64)), int64(at.Created), at.ID[:], openChunk}
			if after == nil {
				args = []any{int64(math.MinInt64), int64(0), []byte{}, openChunk}
			}
		default:
			due = false
			q = cols + `r.respond_by IS NULL AND (r.created, e.id) > (?, ?)` + kindFilter + ` ORDER BY r.created, e.id LIMIT ?`
			args = []any{int64(at.Created), at.ID[:], openChunk}
			if after == nil {
				args = []any{int64(math.MinInt64), []byte{}, openChunk}
			}
		}
		rows, err := s.read.QueryContext(ctx, q, args...)
		if err != nil {
			return s.fail("open requests", err)
		}
		n, stop := 0, false
		for rows.Next() && !stop {
			var id []byte
			var created int64
			var respondBy sql.NullInt64
			if err := rows.Scan(&id, &created, &respondBy); err != nil {
				rows.Close()
				return s.fail("open requests", err)
			}
			o := OpenRequest{Created: crdt.Clock(uint64(created)), RespondBy: uint64(respondBy.Int64)}
			if err := copy32(o.ID[:], id, "open request"); err != nil {
				rows.Close()
				return s.fail("open requests", err)
			}
			n++
			at, after = o, &at
			stop = !fn(o)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return s.fail("open requests", err)
		}
		switch {
		case stop:
			return nil
		case n == openChunk:
			continue // (more of the same part)
		case due:
			due, after = false, nil // (the part without a deadline, from its start)
		default:
			return nil
		}
	}
}

// Stat implements Store.
func (s *SQLite) Stat(ctx context.Context, id crdt.ID) (crdt.RequestStat, bool, error) {
	if s.closed.Load() {
		return crdt.RequestStat{}, false, ErrClosed
	}
	var (
		grp, firstID       []byte
		created            int64
		respondBy, firstAt sql.NullInt64
		open               bool
		label              []byte
	)
	err := s.read.QueryRowContext(ctx, `SELECT r.grp, r.created, r.respond_by, r.open, r.first_at, r.first_id, g.label
		FROM entries e JOIN request_stats r ON r.cur = e.cursor JOIN stats_groups g ON g.grp = r.grp WHERE e.id = ?`, id[:]).
		Scan(&grp, &created, &respondBy, &open, &firstAt, &firstID, &label)
	if errors.Is(err, sql.ErrNoRows) {
		return crdt.RequestStat{}, false, nil
	}
	if err != nil {
		return crdt.RequestStat{}, false, s.fail("stat", err)
	}
	kind, region, err := s.openStatsLabel(grp, label)
	if err != nil {
		return crdt.RequestStat{}, false, s.fail("stat", err)
	}
	st := crdt.RequestStat{ID: id, Kind: kind, Region: region, Created: crdt.Clock(uint64(created)), Open: open}
	if respondBy.Valid {
		st.RespondBy = uint64(respondBy.Int64)
	}
	if firstAt.Valid {
		st.Answered, st.First = true, crdt.Clock(uint64(firstAt.Int64))
		if err := copy32(st.FirstID[:], firstID, "first answer"); err != nil {
			return crdt.RequestStat{}, false, s.fail("stat", err)
		}
	}
	return st, true, nil
}

func (s *SQLite) openStatsLabel(grp, label []byte) (crdt.RequestType, string, error) {
	pt, err := s.seal.open(label, append([]byte(adStats), grp...))
	if err != nil {
		return 0, "", err
	}
	return parseStatsLabel(pt)
}

// StatsBuilt implements Store.
func (s *SQLite) StatsBuilt(ctx context.Context) (bool, error) {
	if s.closed.Load() {
		return false, ErrClosed
	}
	var n int
	if err := s.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM marks WHERE name = 'stats'`).Scan(&n); err != nil {
		return false, s.fail("stats", err)
	}
	return n > 0, nil
}

// StatsTotals implements Store: a row per group, its histogram, and an
// index range of the unanswered requests past their deadline.
func (s *SQLite) StatsTotals(ctx context.Context, now uint64) ([]StatsGroup, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	byGrp := map[string]*StatsGroup{}
	rows, err := s.read.QueryContext(ctx, `SELECT t.grp, g.label, t.requests, t.answered, t.due_answered, t.on_time
		FROM stats_totals t JOIN stats_groups g ON g.grp = t.grp`)
	if err != nil {
		return nil, s.fail("stats", err)
	}
	for rows.Next() {
		var grp, label []byte
		var g StatsGroup
		if err := rows.Scan(&grp, &label, &g.Requests, &g.Answered, &g.DueAnswered, &g.OnTime); err != nil {
			rows.Close()
			return nil, s.fail("stats", err)
		}
		if g.Kind, g.Region, err = s.openStatsLabel(grp, label); err != nil {
			rows.Close()
			return nil, s.fail("stats", err)
		}
		g.Hist = map[int]int{}
		byGrp[string(grp)] = &g
	}
	if err := rows.Close(); err != nil {
		return nil, s.fail("stats", err)
	}
	scan := func(q string, fn func(g *StatsGroup, a, b int), args ...any) error {
		rows, err := s.read.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var grp []byte
			var a, b int
			if err := rows.Scan(&grp, &a, &b); err != nil {
				return err
			}
			if g := byGrp[string(grp)]; g != nil {
				fn(g, a, b)
			}
		}
		return rows.Err()
	}
	if err := scan(`SELECT grp, bucket, n FROM stats_hist`, func(g *StatsGroup, b, n int) { g.Hist[b] = n }); err != nil {
		return nil, s.fail("stats", err)
	}
	if err := scan(`SELECT grp, COUNT(*), COALESCE(SUM(open), 0) FROM request_stats
		WHERE first_at IS NULL AND respond_by IS NOT NULL AND respond_by < ? GROUP BY grp`,
		func(g *StatsGroup, n, open int) { g.PastDue, g.PastDueOpen = n, open }, int64(min(now, math.MaxInt64))); err != nil {
		return nil, s.fail("stats", err)
	}
	out := make([]StatsGroup, 0, len(byGrp))
	for _, g := range byGrp {
		out = append(out, *g)
	}
	sortGroups(out)
	return out, nil
}

func sortGroups(gs []StatsGroup) {
	slices.SortFunc(gs, func(a, b StatsGroup) int {
		if a.Kind != b.Kind {
			return int(a.Kind) - int(b.Kind)
		}
		return bytes.Compare([]byte(a.Region), []byte(b.Region))
	})
}

// memory's statistics: the inputs by request, the totals computed when
// asked (a test store).

func (m *memory) writeStatsLocked(b Batch) {
	if b.StatsReset {
		m.stats, m.statsBuilt = map[crdt.ID]crdt.RequestStat{}, false
	}
	for _, id := range b.StatsGone {
		delete(m.stats, id)
	}
	for _, st := range b.Stats {
		m.stats[st.ID] = st
	}
	for _, st := range b.StatsNew {
		m.stats[st.ID] = st
	}
	if b.StatsBuilt {
		m.statsBuilt = true
	}
}

// Stat implements Store.
func (m *memory) Stat(ctx context.Context, id crdt.ID) (crdt.RequestStat, bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return crdt.RequestStat{}, false, ErrClosed
	}
	st, ok := m.stats[id]
	return st, ok, nil
}

// OpenByDeadline implements Store.
func (m *memory) OpenByDeadline(ctx context.Context, kind crdt.RequestType, after *OpenRequest, fn func(OpenRequest) bool) error {
	m.mu.RLock()
	if m.closed {
		m.mu.RUnlock()
		return ErrClosed
	}
	var open []OpenRequest
	for _, st := range m.stats {
		if st.Open && (kind == 0 && st.Kind != crdt.Alert || kind != 0 && st.Kind == kind) {
			if o := (OpenRequest{ID: st.ID, Created: st.Created, RespondBy: st.RespondBy}); after == nil || after.Before(o) {
				open = append(open, o)
			}
		}
	}
	m.mu.RUnlock()
	slices.SortFunc(open, func(a, b OpenRequest) int {
		if a.Before(b) {
			return -1
		}
		return 1
	})
	for _, o := range open {
		if !fn(o) {
			return nil
		}
	}
	return ctx.Err()
}

// StatsBuilt implements Store.
func (m *memory) StatsBuilt(ctx context.Context) (bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return false, ErrClosed
	}
	return m.statsBuilt, nil
}

// StatsTotals implements Store.
func (m *memory) StatsTotals(ctx context.Context, now uint64) ([]StatsGroup, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, ErrClosed
	}
	by := map[string]*StatsGroup{}
	for _, st := range m.stats {
		k := string(statsLabel(st.Kind, st.Region))
		g := by[k]
		if g == nil {
			g = &StatsGroup{Kind: st.Kind, Region: st.Region, Hist: map[int]int{}}
			by[k] = g
		}
		g.Requests++
		switch {
		case st.Answered:
			g.Answered++
			g.Hist[statsBucket(answerMillis(st))]++
			if st.RespondBy != 0 {
				g.DueAnswered++
				if st.First.Millis() <= st.RespondBy {
					g.OnTime++
				}
			}
		case st.RespondBy != 0 && st.RespondBy < now:
			g.PastDue++
			if st.Open {
				g.PastDueOpen++
			}
		}
	}
	out := make([]StatsGroup, 0, len(by))
	for _, g := range by {
		out = append(out, *g)
	}
	sortGroups(out)
	return out, nil
}
