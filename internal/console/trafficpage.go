package console

import (
	"fmt"
	"net/http"
	"time"

	"github.com/nixbucket/nixbucket/internal/traffic"
	"github.com/nixbucket/nixbucket/internal/units"
)

// Chart geometry, in SVG user units; the SVG scales to its box.
const (
	chartW   = 720
	chartH   = 160
	chartPad = 36 // room for the axis labels on the left and below
)

// bar is one hour of a chart.
type bar struct {
	X, Y, W, H float64
	Title      string
}

// chart is one series drawn as bars, rendered by the template as <svg>:
// the bars in an inner SVG whose viewBox stretches to the width (W by
// Bottom units), the labels in the outer SVG, which has no viewBox, so
// that they keep their size and shape at any width (stretched with the
// bars they were squeezed to a few unreadable pixels at 360 px). Ticks are
// placed by percentage of the width.
type chart struct {
	Label    string // what it shows, for the caption and aria-label
	Bars     []bar
	Max      string // the top of the scale, printed
	Total    string
	W, H     int
	Left     int
	Bottom   int
	Ticks    []tick
	HasData  bool
	Interval string
}

type tick struct {
	X      float64 // in the bars' units
	Pct    float64 // X as a percentage of the width, for the label
	Label  string
	Anchor string // text-anchor: the last tick ends at the right edge
	// Minor ticks are hidden on narrow screens, where the labels of
	// every day of the week would run into each other.
	Minor bool
}

type bucketTraffic struct {
	Bucket               string
	Req24, Bytes24       chart
	Req7d, Bytes7d       chart
	TotalReq, TotalBytes int64
}

type trafficData struct {
	Buckets []bucketTraffic
	Now     time.Time
}

// trafficPage charts each bucket the caller may see: requests and bytes
// (received and sent) per hour, over the last 24 hours and 7 days, from
// the counters of every node added up.
func (h *Handler) trafficPage(w http.ResponseWriter, r *http.Request, c *caller) (view, error) {
	ctx := r.Context()
	all, err := h.traffic.Load(ctx, h.tstore, h.node)
	if err != nil {
		return view{}, err
	}
	now := time.Now()
	d := trafficData{Now: now}
	for _, b := range sortedKeys(all) {
		if b == traffic.Other && !c.id.Root {
			continue
		}
		hours := all[b]
		if b != traffic.Other {
			bk, err := h.store.Bucket(ctx, b)
			if err != nil || !h.visible(r, *c, b) {
				continue
			}
			hours = traffic.Since(hours, bk.Created)
		}
		bt := bucketTraffic{Bucket: b}
		for _, v := range hours {
			bt.TotalReq += v.Requests
			bt.TotalBytes += v.In + v.Out
		}
		req := func(v traffic.Hour) int64 { return v.Requests }
		byt := func(v traffic.Hour) int64 { return v.In + v.Out }
		bt.Req24 = makeChart("requests per hour, last 24 hours", hours, now, 24, req, false)
		bt.Bytes24 = makeChart("bytes per hour, last 24 hours", hours, now, 24, byt, true)
		bt.Req7d = makeChart("requests per hour, last 7 days", hours, now, traffic.Hours, req, false)
		bt.Bytes7d = makeChart("bytes per hour, last 7 days", hours, now, traffic.Hours, byt, true)
		d.Buckets = append(d.Buckets, bt)
	}
	return view{name: "traffic", title: "Traffic", data: d}, nil
}

// makeChart lays out n hourly bars ending with the current hour.
func makeChart(label string, hours map[int64]traffic.Hour, now time.Time, n int, val func(traffic.Hour) int64, isBytes bool) chart {
	cur := now.Unix() / 3600
	vals := make([]int64, n)
	var top, total int64
	for i := range n {
		v := val(hours[cur-int64(n-1-i)])
		vals[i] = v
		top = max(top, v)
		total += v
	}
	f := func(v int64) string {
		if isBytes {
			return units.Bytes(v)
		}
		return fmt.Sprint(v)
	}
	ch := chart{Label: label, W: chartW, H: chartH, Left: chartPad, Bottom: chartH - chartPad/2,
		Max: f(top), Total: f(total), HasData: total > 0}
	plotW := float64(chartW - chartPad)
	plotH := float64(chartH - chartPad)
	bw := plotW / float64(n)
	for i, v := range vals {
		hgt := 0.0
		if top > 0 {
			hgt = plotH * float64(v) / float64(top)
		}
		at := time.Unix((cur-int64(n-1-i))*3600, 0).UTC()
		ch.Bars = append(ch.Bars, bar{
			X: float64(chartPad) + float64(i)*bw + bw*0.1, W: bw * 0.8,
			Y: float64(ch.Bottom) - hgt, H: hgt,
			Title: at.Format("Jan 2 15:00") + " UTC: " + f(v),
		})
	}
	step := 6
	if n > 24 {
		step = 24
	}
	for k, i := 0, n-1; i >= 0; k, i = k+1, i-step {
		at := time.Unix((cur-int64(n-1-i))*3600, 0).UTC()
		lab := at.Format("15:00")
		if n > 24 {
			lab = at.Format("Jan 2")
		}
		x, anchor := float64(chartPad)+float64(i)*bw+bw/2, "middle"
		if x > chartW-30 {
			x, anchor = chartW, "end"
		}
		ch.Ticks = append(ch.Ticks, tick{X: x, Pct: 100 * x / chartW, Label: lab, Anchor: anchor, Minor: n > 24 && k%2 == 1})
	}
	return ch
}
