package e2e

import (
	"fmt"
	"math"
	"strings"
)

// benchReport renders the rounds and the targets as Markdown: one table of
// every round, one of the targets measured against.
func benchReport(rows []benchRow, comps []benchComponent, mainPeak int, mem memResult) string {
	var b strings.Builder
	header := "| round | path | pods | all Running (s) | p50 (s) | p99 (s) | cleanup (s) | marked / lower gone (s) | longest wait of one pod (s) | empty namespace gone (s) " +
		"| virtual-node CPU until Running / cleanup (s) | upper apiserver CPU until Running (ms/pod) | pod-status writes/pod | pod-status 409s | events/pod " +
		"| node-status/pod | lease writes/pod | all 409s | upper writes/pod | upper writes/pod, cleanup " +
		"| pod watches closed for a slow client, upper / lower |"
	sep := strings.Repeat("---|", strings.Count(header, "|")-1)
	for _, c := range comps {
		header += " " + c.name + " CPU (s) |"
		sep += "---:|"
	}
	b.WriteString(header + "\n|" + sep + "\n")
	for _, r := range rows {
		per := func(x float64) string { return fmt.Sprintf("%.2f", x/float64(r.n)) }
		lower := "-"
		if r.path == pathThrough {
			lower = fmt.Sprintf("%.1f", r.clean.lowerGone.Seconds())
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %.2f | %.2f | %.2f | %.2f | %.1f / %s | %.1f | %.1f | %.2f / %.2f | %.2f | %s | %.0f | %s | %s | %s | %.0f | %s | %s | %.0f / %.0f |",
			r.round, r.label, r.n, r.sync.wall.Seconds(), r.sync.p50.Seconds(), r.sync.p99.Seconds(), r.clean.gone.Seconds(),
			r.clean.marked.Seconds(), lower, r.clean.maxLag.Seconds(), r.clean.nsGone.Seconds(), r.vnCPU, r.vnClean, 1000*r.apiSync/float64(r.n),
			per(r.w.podStatus), r.w.podStatus409, per(r.w.events), per(r.w.nodeStatus), per(r.w.leases), r.w.conflicts,
			per(r.w.all), per(r.wClean.all), r.w.terminatedWatchers+r.wClean.terminatedWatchers, r.lowerWatchersClosed)
		for _, c := range r.comps {
			fmt.Fprintf(&b, " %.2f |", c)
		}
		b.WriteString("\n")
	}
	b.WriteString("\n" + benchTargets(rows, mainPeak, mem))
	return b.String()
}

// benchTargets compares the main rounds (not the memory phase's) with the targets.
func benchTargets(rows []benchRow, mainPeak int, mem memResult) string {
	by := map[benchPath][]benchRow{}
	rounds := map[string]map[benchPath]benchRow{}
	for _, r := range rows {
		if strings.HasPrefix(r.round, "mem") {
			continue
		}
		by[r.path] = append(by[r.path], r)
		if rounds[r.round] == nil {
			rounds[r.round] = map[benchPath]benchRow{}
		}
		rounds[r.round][r.path] = r
	}
	col := func(p benchPath, f func(benchRow) float64) []float64 {
		var out []float64
		for _, r := range by[p] {
			out = append(out, f(r))
		}
		return out
	}
	perRound := func(a, b benchPath, f func(benchRow) float64) []float64 {
		var out []float64
		for _, rr := range rounds {
			x, okx := rr[a]
			y, oky := rr[b]
			if okx && oky && f(y) > 0 {
				out = append(out, f(x)/f(y))
			}
		}
		return out
	}
	wall := func(r benchRow) float64 { return r.sync.wall.Seconds() }
	clean := func(r benchRow) float64 { return r.clean.gone.Seconds() }
	apiPerPod := func(r benchRow) float64 { return r.apiSync / float64(r.n) }
	worst := 0.0
	for _, p := range []benchPath{pathDirect, pathThrough, pathKWOK} {
		c := col(p, clean)
		if m := median(c); m > 0 {
			worst = math.Max(worst, maxOf(c)/m)
		}
	}
	var statusWrites, conflicts409 []float64
	for _, r := range by[pathThrough] {
		statusWrites = append(statusWrites, r.w.podStatus/float64(r.n))
		conflicts409 = append(conflicts409, r.w.podStatus409)
	}
	vnCPU := col(pathThrough, func(r benchRow) float64 { return r.vnCPU * 1000 / float64(r.n) })
	var b strings.Builder
	b.WriteString("| target | measured | goal | met |\n|---|---:|---|---|\n")
	line := func(name string, v float64, goal string, ok bool) {
		fmt.Fprintf(&b, "| %s | %.2f | %s | %s |\n", name, v, goal, map[bool]string{true: "yes", false: "**no**"}[ok])
	}
	ratio := median(perRound(pathThrough, pathDirect, wall))
	line("sync ratio through / direct (median of the rounds' ratios)", ratio, "<= 1.8", ratio <= 1.8)
	kw := median(perRound(pathThrough, pathKWOK, wall))
	line("sync ratio through / KWOK nodes of the upper (median)", kw, "(reference)", true)
	cr := median(perRound(pathThrough, pathDirect, clean))
	line("cleanup through / direct (median of the rounds' ratios)", cr, "<= 1.5", cr <= 1.5)
	line("worst round's cleanup / its path's median (any path)", worst, "<= 3", worst <= 3)
	v := median(vnCPU)
	line("virtual-node CPU-s per 1,000 pods until Running (median, through)", v, "< 2.5", v < 2.5)
	api := median(perRound(pathThrough, pathKWOK, apiPerPod))
	line("upper apiserver CPU per pod, through / KWOK (median)", api, "<= 1.5", api <= 1.5)
	line("upper apiserver CPU ms/pod through (median)", 1000*median(col(pathThrough, apiPerPod)), "(reference)", true)
	line("upper apiserver CPU ms/pod KWOK (median)", 1000*median(col(pathKWOK, apiPerPod)), "(reference)", true)
	c409 := sum(conflicts409)
	line("pod-status 409s, all through rounds", c409, "0", c409 == 0)
	sw := maxOf(statusWrites)
	line("pod-status writes per pod until Running (worst through round)", sw, "<= 2", sw <= 2)
	kwW := median(col(pathKWOK, func(r benchRow) float64 { return r.w.podStatus / float64(r.n) }))
	line("pod-status writes per pod until Running, KWOK (median)", kwW, "(reference)", true)
	// The rest of the upper API server's writes per pod until Running, through (and on
	// the upper KWOK nodes for all of them): what the CPU ratio above is made of.
	for _, w := range []struct {
		name string
		f    func(writeCounts) float64
	}{
		{"events", func(w writeCounts) float64 { return w.events }},
		{"node-status", func(w writeCounts) float64 { return w.nodeStatus }},
		{"lease", func(w writeCounts) float64 { return w.leases }},
	} {
		line(w.name+" writes per pod until Running, through (median)",
			median(col(pathThrough, func(r benchRow) float64 { return w.f(r.w) / float64(r.n) })), "(reference)", true)
	}
	line("all upper writes per pod until Running, through (median)", median(col(pathThrough, func(r benchRow) float64 { return r.w.all / float64(r.n) })), "(reference)", true)
	line("all upper writes per pod until Running, KWOK (median)", median(col(pathKWOK, func(r benchRow) float64 { return r.w.all / float64(r.n) })), "(reference)", true)
	line("virtual-node peak RSS, main rounds (MiB)", float64(mainPeak)/1024, "(reference)", true)
	line(fmt.Sprintf("virtual-node RSS after sync, %d foreign pods on %d more lower nodes (MiB)", mem.foreign, mem.nodes),
		float64(mem.rssSynced)/1024, "<= 120", mem.rssSynced <= 120*1024)
	after := 0.0
	for _, r := range mem.rssAfterSync {
		after = math.Max(after, float64(r)/1024)
	}
	line("virtual-node RSS once a 1,000-pod round is Running, same (MiB, worst)", after, "(reference)", true)
	line("virtual-node peak RSS, same (MiB)", float64(mem.peak)/1024, "<= 220", mem.peak <= 220*1024)
	var memThrough, memDirect []float64
	for _, r := range mem.rows {
		if r.path == pathThrough {
			memThrough = append(memThrough, wall(r))
		} else {
			memDirect = append(memDirect, wall(r))
		}
	}
	if len(memDirect) > 0 && median(memDirect) > 0 {
		line("sync ratio with the foreign pods (median through / median direct)", median(memThrough)/median(memDirect), "(reference)", true)
	}
	fmt.Fprintf(&b, "\nForeign pods: %d created and Running in %.0f s.\n", mem.foreign, mem.foreignSetup.Seconds())
	return b.String()
}

func maxOf(xs []float64) float64 {
	m := 0.0
	for _, x := range xs {
		m = math.Max(m, x)
	}
	return m
}

func sum(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s
}
