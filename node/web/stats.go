package web

import (
	"context"
	"math"
	"net/http"
	"slices"
	"time"

	"github.com/murmurnet/murmur/node"
)

// bar is one bar of a chart drawn on the server (inline SVG: no script).
type bar struct {
	Label string
	Value string // as written beside the bar
	Y     int
	Width int // of chartWidth
}

type chart struct {
	Title  string
	Height int
	Bars   []bar
}

const (
	chartWidth = 420
	chartLabel = 200 // the labels' column
	barHeight  = 22
)

// barsOf draws one bar per row, scaled to the largest value (or to max,
// if not 0); rows with no value are left out.
func barsOf(title string, rows []node.StatsRow, label func(node.StatsRow) string, value func(node.StatsRow) (float64, bool), write func(float64) string, max float64) chart {
	c := chart{Title: title}
	var vals []float64
	var keep []node.StatsRow
	for _, r := range rows {
		if v, ok := value(r); ok {
			vals, keep = append(vals, v), append(keep, r)
			if v > max {
				max = v
			}
		}
	}
	for i, r := range keep {
		w := 0
		if max > 0 {
			w = int(math.Round(vals[i] / max * (chartWidth - chartLabel - 70)))
		}
		c.Bars = append(c.Bars, bar{Label: label(r), Value: write(vals[i]), Y: i * (barHeight + 6), Width: max1(w, 1)})
	}
	c.Height = len(c.Bars)*(barHeight+6) + 4
	return c
}

func max1(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// stats shows response times per kind and per kind and region, as
// charts and as a table.
func (s *Server) stats(p page) {
	ctx, cancel := context.WithTimeout(p.r.Context(), 30*time.Second)
	defer cancel()
	st, err := s.n.Stats(ctx)
	if err != nil {
		p.fail(http.StatusInternalServerError, "error.internal")
		return
	}
	kindLabel := func(r node.StatsRow) string { return p.lang.T("kind." + r.Kind) }
	share := func(r node.StatsRow) (float64, bool) {
		if r.OnTimeShare == nil {
			return 0, false
		}
		return 100 * *r.OnTimeShare, true
	}
	median := func(r node.StatsRow) (float64, bool) {
		if r.MedianFirstResponseHours == nil {
			return 0, false
		}
		return *r.MedianFirstResponseHours, true
	}
	pct := func(v float64) string { return p.lang.Percent(v / 100) }
	hours := p.lang.Hours
	regionLabel := func(r node.StatsRow) string {
		if r.Region == "" {
			return p.lang.T("stats.noregion")
		}
		return p.lang.RegionName(r.Region)
	}
	charts := []chart{
		barsOf(p.lang.T("stats.ontime"), st.Kinds, kindLabel, share, pct, 100),
		barsOf(p.lang.T("stats.median"), st.Kinds, kindLabel, median, hours, 0),
		barsOf(p.lang.T("stats.ontimeregion"), byRegion(st.Rows, chartRegions), regionLabel, share, pct, 100),
	}
	p.render("stats", map[string]any{"S": st, "Charts": charts, "ChartWidth": chartWidth, "ChartLabel": chartLabel, "BarHeight": barHeight})
}

// chartRegions is how many regions the by-region chart shows: those with
// the most requests decided.
const chartRegions = 12

// byRegion adds up the rows of each region over every kind: what was
// decided by its deadline and how much of it was answered in time (a share
// adds up; a median does not), for the regions with the most decided.
func byRegion(rows []node.StatsRow, top int) []node.StatsRow {
	sum := map[string]*node.StatsRow{}
	var order []string
	for _, r := range rows {
		t := sum[r.Region]
		if t == nil {
			t = &node.StatsRow{Kind: "*", Region: r.Region}
			sum[r.Region] = t
			order = append(order, r.Region)
		}
		t.Requests += r.Requests
		t.Due += r.Due
		t.OnTime += r.OnTime
	}
	var out []node.StatsRow
	for _, region := range order {
		t := *sum[region]
		if t.Due > 0 {
			v := float64(t.OnTime) / float64(t.Due)
			t.OnTimeShare = &v
			out = append(out, t)
		}
	}
	slices.SortStableFunc(out, func(a, b node.StatsRow) int { return b.Due - a.Due })
	return out[:min(len(out), top)]
}
