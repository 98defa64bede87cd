//go:build !race

package kubeletapi

import "time"

// scrapeBound is how long a scrape of 1,000 lower nodes may take: the target of
// issue #14.
const scrapeBound = time.Second
