package kubeletapi

import (
	"context"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// statsDemandWindow is how long after its last read a cache is still refreshed in the
// background: a virtual node nobody scrapes costs the lower cluster nothing, and one
// that metrics-server scrapes (every 15-60s) always answers from the cache.
const statsDemandWindow = 5 * time.Minute

// cacheConfig is the timing of a scrapeCache.
type cacheConfig struct {
	// interval is the background refresh period; a read of an older value also starts
	// a refresh, without waiting for it.
	interval time.Duration
	// maxAge bounds the age of a served value, counted from the start of the refresh
	// that produced it; a read of an older one waits for a refresh. It also bounds one
	// refresh, so that a hanging lower cluster cannot hold one forever.
	maxAge time.Duration
	clock  clock.WithTicker
}

// cacheConfig returns the timing of the Proxy's stats and metrics caches.
func (p *Proxy) cacheConfig() cacheConfig {
	return cacheConfig{interval: p.cfg.StatsRefreshInterval, maxAge: p.cfg.StatsMaxAge, clock: p.cfg.Clock}
}

// scrapeCache holds the last value fetch produced and refreshes it: in the background
// while it is read (run), and on a read that finds it older than the refresh interval.
// At most one fetch runs at a time, however many readers wait for it, so concurrent
// scrapes never multiply the requests to the lower nodes.
type scrapeCache[T any] struct {
	cfg   cacheConfig
	fetch func(ctx context.Context) (T, error)

	mu       sync.Mutex
	snap     *snapshot[T]
	inflight *refreshCall[T]
	lastRead time.Time
	// runCtx is run's context while it runs: refreshes started by reads then end with
	// the node rather than with the read's request.
	runCtx context.Context
}

// snapshot is one successful fetch and the time it started.
type snapshot[T any] struct {
	val T
	at  time.Time
}

// refreshCall is one fetch in flight; done is closed once val and err are set.
type refreshCall[T any] struct {
	done chan struct{}
	val  T
	err  error
}

func newScrapeCache[T any](cfg cacheConfig, fetch func(ctx context.Context) (T, error)) *scrapeCache[T] {
	return &scrapeCache[T]{cfg: cfg, fetch: fetch}
}

// get returns the cached value if it is younger than maxAge, starting a refresh in the
// background when it is older than the interval; otherwise it waits for a refresh. A
// failed refresh leaves the previous value, which is served until it is too old.
func (c *scrapeCache[T]) get(ctx context.Context) (T, error) {
	now := c.cfg.clock.Now()
	c.mu.Lock()
	c.lastRead = now
	snap := c.snap
	var wait *refreshCall[T]
	switch {
	case snap == nil || now.Sub(snap.at) >= c.cfg.maxAge:
		wait = c.startLocked(ctx)
	case now.Sub(snap.at) >= c.cfg.interval:
		c.startLocked(ctx)
	}
	c.mu.Unlock()
	if wait == nil {
		return snap.val, nil
	}
	select {
	case <-wait.done:
		return wait.val, wait.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// startLocked starts a refresh unless one is in flight, and returns the one in flight.
// A refresh started by a read outlives the read: other readers may be waiting for it.
func (c *scrapeCache[T]) startLocked(ctx context.Context) *refreshCall[T] {
	if c.inflight != nil {
		return c.inflight
	}
	call := &refreshCall[T]{done: make(chan struct{})}
	c.inflight = call
	base := c.runCtx
	if base == nil {
		base = context.WithoutCancel(ctx)
	}
	go c.refresh(base, call)
	return call
}

// refresh fetches a new value, keeps it if the fetch succeeded and hands it to the
// readers waiting for call.
func (c *scrapeCache[T]) refresh(ctx context.Context, call *refreshCall[T]) {
	start := c.cfg.clock.Now()
	ctx, cancel := context.WithTimeout(ctx, c.cfg.maxAge)
	val, err := c.fetch(ctx)
	cancel()
	call.val, call.err = val, err
	c.mu.Lock()
	if err == nil {
		c.snap = &snapshot[T]{val: val, at: start}
	}
	c.inflight = nil
	c.mu.Unlock()
	close(call.done)
}

// run refreshes the cache every interval while it has been read within
// statsDemandWindow, until ctx is done.
func (c *scrapeCache[T]) run(ctx context.Context) {
	c.mu.Lock()
	c.runCtx = ctx
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.runCtx = nil
		c.mu.Unlock()
	}()
	ticker := c.cfg.clock.NewTicker(c.cfg.interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C():
			c.tick()
		}
	}
}

// tick starts a background refresh if the cache is in demand and not refreshed in the
// last half interval (a read may just have refreshed it).
func (c *scrapeCache[T]) tick() {
	now := c.cfg.clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lastRead.IsZero() || now.Sub(c.lastRead) > statsDemandWindow {
		return
	}
	if c.snap != nil && now.Sub(c.snap.at) < c.cfg.interval/2 {
		return
	}
	c.startLocked(c.runCtx)
}

// Run keeps the stats and metrics caches fresh in the background until ctx is done:
// every StatsRefreshInterval, each one read in the last five minutes is refreshed, so
// that scrapes answer from the cache without waiting for the lower nodes. Without Run,
// scrapes still share one refresh at a time and never see values older than
// StatsMaxAge, but one finding the cache too old waits for the lower nodes.
func (p *Proxy) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.summaries.run(ctx) }()
	go func() { defer wg.Done(); p.resourceMetrics.run(ctx) }()
	wg.Wait()
}
