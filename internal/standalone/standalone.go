// Package standalone, imported for its side effects, makes a command run in an empty
// container image: it links in a CA root bundle and the time zone database.
//
// The roots (golang.org/x/crypto/x509roots/fallback, Mozilla's NSS set) are used only
// when the system has none, which is the empty-image case; a bundle mounted at
// /etc/ssl/certs/ca-certificates.crt (or SSL_CERT_FILE) takes precedence. time/tzdata is
// used only when the system has no zoneinfo. Together they add about 0.7 MB to a binary.
package standalone

import (
	_ "time/tzdata" // zoneinfo when /usr/share/zoneinfo is absent

	_ "golang.org/x/crypto/x509roots/fallback" // CA roots when the system has none
)
