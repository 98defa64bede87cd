//go:build race

package kubeletapi

import "time"

// scrapeBound is how long a scrape of 1,000 lower nodes may take under the race
// detector, which slows encoding and HTTP several-fold; the 1 s target holds without it.
const scrapeBound = 5 * time.Second
